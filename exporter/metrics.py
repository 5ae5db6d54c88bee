"""The exporter's stream-derived metrics, registered on an explicit registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

PROCESSING_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class EventMetrics:
    """Event-processing metrics (the spec's event_metrics). Names are a contract: see docs/metrics.md."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.consumed = Counter(
            "monitoring_events_consumed",
            "Platform domain events consumed and counted, by topic, publishing service and type.",
            ["topic", "source", "type"],
            registry=registry,
        )
        self.failed = Counter(
            "monitoring_events_failed",
            "Records that could not be processed, by topic and a bounded reason.",
            ["topic", "reason"],
            registry=registry,
        )
        self.unknown_types = Counter(
            "monitoring_events_unknown_type",
            "Valid CloudEvents whose type is not in the catalogue; counted and ignored.",
            ["topic"],
            registry=registry,
        )
        self.processing = Histogram(
            "monitoring_event_processing_seconds",
            "Time to decode, validate and count one event.",
            ["topic"],
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
