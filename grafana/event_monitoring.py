"""Event monitoring: processing rate, event latency, failure rate and retries, consistency.

Events carry their publisher in the ``source`` label, filtered by the ``service`` variable.
"""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import PanelBuilder, build, graph, grid, prom, runbook, single, traces

UID = "event-monitoring"
VERSION = 1
SRC = 'source=~"$service"'


def dashboard() -> Dashboard:
    rate: list[PanelBuilder] = [
        single(
            "Events per second",
            "Valid platform events consumed per second, all topics.",
            [prom("sum(topic:monitoring_events_consumed:rate1m)", "events/s")],
            "ops",
            links=[runbook("metriccollectionstalled", "MetricCollectionStalled")],
        ),
        single(
            "Failure ratio",
            "Share of records that are not valid events (5m).",
            [prom("max(topic:monitoring_events_failed:ratio_rate5m)", "worst topic")],
            "percentunit",
            links=[runbook("eventfailurespike", "EventFailureSpike")],
            thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")],
        ),
        single(
            "Consumer lag (messages)",
            "Messages not yet consumed by the platform's consumer groups.",
            [prom("sum(group_topic:kafka_consumergroup_lag:sum)", "lag")],
            "short",
            links=[runbook("consumergrouplagging", "ConsumerGroupLagging")],
        ),
        single(
            "Consistency violations",
            "Violations counted in the time range, all kinds.",
            [prom(f"sum(increase(monitoring_consistency_violations_total{{{SRC}}}[$__range]))", "violations")],
            "short",
            links=[runbook("consistencyviolation", "ConsistencyViolation")],
            thresholds=[(None, "green"), (1, "orange")],
        ),
        graph(
            "Processing rate by topic",
            "Events consumed per second per topic (topic:monitoring_events_consumed:rate1m).",
            [prom("topic:monitoring_events_consumed:rate1m", "{{topic}}")],
            "ops",
            links=[traces("monitoring-exporter")],
        ),
        graph(
            "Processing rate by source and type",
            "Events consumed per second per publisher and event type.",
            [
                prom(
                    f"sum by (source, type) (rate(monitoring_events_consumed_total{{{SRC}}}[$__rate_interval]))",
                    "{{source}} {{type}}",
                )
            ],
            "ops",
            stacked=True,
        ),
    ]
    latency: list[PanelBuilder] = [
        graph(
            "Event lag p95 (arrival - event time)",
            "How old events are when the exporter reads them, per publisher.",
            [prom(f"source:monitoring_event_lag_seconds:p95_5m{{{SRC}}}", "{{source}}")],
            "s",
            links=[runbook("eventlaghigh", "EventLagHigh")],
            width=8,
        ),
        graph(
            "Processing time p99 with exemplars",
            "Time to decode, validate and count one event; exemplar dots link to traces in Jaeger.",
            [
                prom(
                    "histogram_quantile(0.99, sum by (topic, le) "
                    "(rate(monitoring_event_processing_seconds_bucket[$__rate_interval])))",
                    "{{topic}}",
                    exemplar=True,
                )
            ],
            "s",
            links=[traces("monitoring-exporter")],
            width=8,
        ),
        graph(
            "Consumer lag (seconds)",
            "Age of the oldest unconsumed message per group and topic.",
            [prom("group_topic:kafka_consumergroup_lag_seconds:max", "{{group}} {{topic}}")],
            "s",
            links=[runbook("consumergrouplagging", "ConsumerGroupLagging")],
            width=8,
        ),
        graph(
            "Consumer lag (messages)",
            "Messages not yet consumed per group and topic (the spec's event_queue_length).",
            [prom("group_topic:kafka_consumergroup_lag:sum", "{{group}} {{topic}}")],
            "short",
            links=[runbook("consumergroupstalled", "ConsumerGroupStalled")],
        ),
        grid(
            "Consumer group status",
            "Burrow-style status per platform consumer group (ok, warn, stall, stop, rewind).",
            [prom("kafka_consumergroup_status == 1", "", instant=True)],
            links=[runbook("consumergroupstalled", "ConsumerGroupStalled")],
        ),
    ]
    failures: list[PanelBuilder] = [
        graph(
            "Failure ratio by topic",
            "Records that are not valid events, over all records (topic:monitoring_events_failed:ratio_rate5m).",
            [prom("topic:monitoring_events_failed:ratio_rate5m", "{{topic}}")],
            "percentunit",
            links=[runbook("eventfailurespike", "EventFailureSpike")],
            width=8,
        ),
        graph(
            "Failures by reason",
            "Invalid records per second by reason (see docs/events.md for the reasons).",
            [prom("sum by (reason) (rate(monitoring_events_failed_total[$__rate_interval]))", "{{reason}}")],
            "ops",
            links=[runbook("eventfailurespike", "EventFailureSpike")],
            width=8,
            stacked=True,
        ),
        graph(
            "Dead letters (15m)",
            "Records written to <topic>.dlq over 15 minutes.",
            [prom("topic:monitoring_events_dead_lettered:increase15m", "{{topic}}")],
            "short",
            links=[runbook("deadlettergrowth", "DeadLetterGrowth")],
            width=8,
        ),
        graph(
            "Retries and redeliveries",
            "Retries of transient failures (dead-letter produce, offset commit; 0 until the first) and redeliveries.",
            [
                # A retry counter appears with the first retry: show 0 for the topics being consumed.
                prom(
                    "topic:monitoring_event_retries:rate5m or 0 * topic:monitoring_events_consumed:rate1m",
                    "retries {{topic}}",
                ),
                prom(
                    "sum by (topic) (rate(monitoring_events_duplicate_total[$__rate_interval]))", "duplicates {{topic}}"
                ),
            ],
            "ops",
            links=[runbook("deadlettergrowth", "DeadLetterGrowth")],
        ),
        graph(
            "Offset commits",
            "The exporter's synchronous offset commits by outcome.",
            [prom("sum by (outcome) (rate(monitoring_offset_commits_total[$__rate_interval]))", "{{outcome}}")],
            "ops",
        ),
    ]
    consistency: list[PanelBuilder] = [
        graph(
            "Consistency violations (10m)",
            "version_gap, out_of_order, duplicate and missing_followup per publisher.",
            [prom(f"kind_source:monitoring_consistency_violations:increase10m{{{SRC}}}", "{{kind}} {{source}}")],
            "short",
            links=[runbook("consistencyviolation", "ConsistencyViolation")],
            width=8,
            stacked=True,
        ),
        graph(
            "Sync delay p95",
            "Event-time delay from a cause to its follow-up, per rule.",
            [prom("rule:monitoring_sync_delay_seconds:p95_5m", "{{rule}}")],
            "s",
            links=[runbook("syncdelayhigh", "SyncDelayHigh")],
            width=8,
        ),
        graph(
            "Pending follow-ups",
            "Causes waiting for their follow-up, per rule, on the active consistency consumer.",
            [prom("sum by (rule) (monitoring_consistency_pending_followups)", "{{rule}}")],
            "short",
            links=[runbook("syncdelayhigh", "SyncDelayHigh")],
            width=8,
        ),
    ]
    return build(
        UID,
        "Event monitoring",
        "Processing rate, event latency, failures and retries, and consistency checks of the platform's events.",
        VERSION,
        [
            ("Processing rate", rate),
            ("Event latency", latency),
            ("Failure rate and retries", failures),
            ("Consistency", consistency),
        ],
    )
