"""The exporter's stream-derived metrics, registered on an explicit registry.

Names and labels are a contract that rules and dashboards build on: see docs/metrics.md.
Values read at scrape time (consumer-group lag, business queries, health checks) are not
here; they live in the collectors of their own modules.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.stream_metrics import StreamCounter, StreamHistogram

PROCESSING_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1)
EVENT_LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SIGNED_RATIO_BUCKETS = (-0.2, -0.1, -0.05, -0.02, -0.01, 0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
UNIT_RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SYNC_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EventMetrics:
    """Event processing (the spec's event_metrics)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # Updated by the consume loop only: single-writer stream metrics (see exporter/stream_metrics.py).
        self.consumed = StreamCounter(
            "monitoring_events_consumed",
            "Platform domain events consumed and counted, by topic, publishing service and type.",
            ["topic", "source", "type"],
            registry=registry,
        )
        self.failed = Counter(
            "monitoring_events_failed",
            "Records that could not be processed, by topic and a bounded reason; each went to <topic>.dlq.",
            ["topic", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "monitoring_event_retries",
            "Retries of a transient failure (dead-letter produce, offset commit), by topic.",
            ["topic"],
            registry=registry,
        )
        self.duplicates = Counter(
            "monitoring_events_duplicate",
            "Redelivered events (an event id seen recently), counted here and not in consumed.",
            ["topic"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "monitoring_events_dead_lettered",
            "Records written to the dead-letter topic <topic>.dlq, by origin topic.",
            ["topic"],
            registry=registry,
        )
        self.unknown_types = Counter(
            "monitoring_events_unknown_type",
            "Valid CloudEvents whose type is not in the catalogue; counted and ignored.",
            ["topic"],
            registry=registry,
        )
        self.processing = StreamHistogram(
            "monitoring_event_processing_seconds",
            "Time to decode, validate and count one event.",
            ["topic"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.lag = StreamHistogram(
            "monitoring_event_lag_seconds",
            "Arrival time minus the event's time attribute.",
            ["source", "type"],
            buckets=EVENT_LAG_BUCKETS,
            registry=registry,
        )
        self.loop_errors = Counter(
            "monitoring_loop_errors",
            "Unexpected errors caught at the edge of a background loop (a bug, not bad input), by loop.",
            ["loop"],
            registry=registry,
        )
        self.commits = Counter(
            "monitoring_offset_commits",
            "Offset commits of the exporter's consumer, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )


class BusinessMetrics:
    """Business metrics taken from event payloads; updated by the consume loop only."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.asset_created = StreamCounter(
            "asset_created", "AssetCreated events, by asset class.", ["asset_class"], registry=registry
        )
        self.asset_modified = StreamCounter(
            "asset_modified", "AssetModified events, by asset class.", ["asset_class"], registry=registry
        )
        self.asset_valuation_change = StreamHistogram(
            "asset_valuation_change_ratio",
            "Relative valuation change (new - old) / old of AssetValuationChanged events.",
            ["asset_class"],
            buckets=SIGNED_RATIO_BUCKETS,
            registry=registry,
        )
        self.portfolio_rebalances = StreamCounter(
            "portfolio_rebalances", "PortfolioRebalanced events.", registry=registry
        )
        self.portfolio_return = StreamHistogram(
            "portfolio_return_ratio",
            "Portfolio returns reported by PortfolioPerformanceUpdated, by period.",
            ["period"],
            buckets=SIGNED_RATIO_BUCKETS,
            registry=registry,
        )
        self.portfolio_goal_progress = StreamHistogram(
            "portfolio_goal_progress_ratio",
            "Goal progress reported by PortfolioGoalProgressUpdated (1.0 = reached).",
            buckets=UNIT_RATIO_BUCKETS,
            registry=registry,
        )
        self.portfolio_goals_achieved = StreamCounter(
            "portfolio_goals_achieved", "PortfolioGoalProgressUpdated events with achieved=true.", registry=registry
        )
        self.transactions = StreamCounter(
            "transactions",
            "Transaction events by transaction type and status (initiated, completed, failed).",
            ["type", "status"],
            registry=registry,
        )
        self.transaction_amount = StreamCounter(
            "transaction_amount",
            "Sum of completed transaction amounts, in the currency's major unit.",
            ["type", "currency"],
            registry=registry,
        )
        self.transaction_processing = StreamHistogram(
            "transaction_processing_seconds",
            "Processing time reported by TransactionCompleted.",
            ["type"],
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )


class ConsistencyMetrics:
    """Cross-service consistency: sequence violations and follow-up expectations."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.violations = Counter(
            "monitoring_consistency_violations",
            "Consistency violations: version_gap, out_of_order, duplicate, missing_followup.",
            ["kind", "source"],
            registry=registry,
        )
        # Observed by the consistency loop only: a single-writer stream histogram.
        self.sync_delay = StreamHistogram(
            "monitoring_sync_delay_seconds",
            "Event-time delay from a cause to its expected follow-up, by rule.",
            ["rule"],
            buckets=SYNC_BUCKETS,
            registry=registry,
        )
        self.pending = Gauge(
            "monitoring_consistency_pending_followups",
            "Follow-up expectations waiting for their follow-up, by rule.",
            ["rule"],
            registry=registry,
        )
        self.overflow = StreamCounter(  # by the consistency loop only, and as often as every other event
            "monitoring_consistency_pending_overflow",
            "Pending expectations dropped because the bound (buffer_size) was reached, by rule.",
            ["rule"],
            registry=registry,
        )
        # Updated by the consistency loop only: a single-writer stream counter.
        self.records = StreamCounter(
            "monitoring_consistency_records",
            "Records the consistency consumer has read, with or without a valid envelope: its progress.",
            registry=registry,
        )


class LeadershipMetrics:
    """Which instance runs the single-active consistency consumer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "monitoring_consistency_active",
            "1 when this instance runs the single-active consistency consumer, else 0.",
            registry=registry,
        )
