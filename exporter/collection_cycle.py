"""Each collection interval, summarise the business and event metrics as one MetricCollected.

The summary (the current value of every business and event metric series) becomes one
MetricCollected domain event and, with POSTGRES_URI, one metric snapshot in PostgreSQL. Once
an hour the snapshot store enforces its retention (roll up, drop old partitions).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import structlog
from opentelemetry import trace
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from exporter.schedule import IntervalScheduler
from exporter.snapshots import SnapshotStore
from monitoring.catalogue import MetricCollected, SeriesValue

log = structlog.get_logger(__name__)

# Metric families summarised in each cycle: the event and business metrics of docs/metrics.md.
SUMMARISED_PREFIXES = (
    "monitoring_events_",
    "monitoring_event_retries",
    "monitoring_consistency_violations",
    "kafka_consumergroup_lag",
    "asset_",
    "portfolio_",
    "transaction",
    "service_up",
)
SUMMARISED_SUFFIXES = ("_total", "_count", "_sum", "")
RETENTION_EVERY_SECONDS = 3600.0
COLLECTOR = "exporter"


def summarise(registry: CollectorRegistry) -> dict[str, float]:
    """``name{labels}`` -> value for the summarised series (histogram buckets left out)."""
    values: dict[str, float] = {}
    for family in registry.collect():
        if not family.name.startswith(SUMMARISED_PREFIXES):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created", "_gsum", "_gcount")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return values


class CollectionCycle:
    """Owns the cycle thread (an ``IntervalScheduler``)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        interval: float,
        emit: Callable[[MetricCollected], None],
        snapshots: SnapshotStore | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] = lambda: None,
        tracer: Tracer | None = None,
    ) -> None:
        self._registry = registry
        self._tracer = tracer or trace.NoOpTracer()
        self._emit = emit
        self._snapshots = snapshots
        self._now = now
        self.snapshot_errors = 0
        jobs: list[tuple[float, Callable[[], None]]] = [(interval, self._tick)]
        if snapshots is not None:
            jobs.append((RETENTION_EVERY_SECONDS, self.enforce_retention))
        self._scheduler = IntervalScheduler(jobs, "collection-cycle", clock, on_error)

    def _tick(self) -> None:
        self.run_once()

    def run_once(self) -> MetricCollected:
        """One cycle, in a "collection cycle" span: the MetricCollected it emits carries its traceparent."""
        with self._tracer.start_as_current_span(
            "collection cycle", attributes={"monitoring.collector": COLLECTOR}
        ) as span:
            record = self._cycle()
            span.set_attribute("monitoring.samples", record.samples)
            span.set_attribute("monitoring.errors", record.errors)
            return record

    def _cycle(self) -> MetricCollected:
        started = self._now()
        values = summarise(self._registry)
        errors = 0
        if self._snapshots is not None:
            try:
                self._snapshots.write(started, COLLECTOR, values)
            except psycopg.Error as exc:  # a database outage must not stop the summaries
                errors = 1
                self.snapshot_errors += 1
                log.warning("metric_snapshot_failed", error=type(exc).__name__)
        record = MetricCollected(
            collector=COLLECTOR,
            started_at=started,
            duration_seconds=max(0.0, (self._now() - started).total_seconds()),
            samples=len(values),
            errors=errors,
            values=[SeriesValue(series=series, value=value) for series, value in values.items()],
        )
        self._emit(record)
        return record

    def enforce_retention(self) -> None:
        if self._snapshots is not None:
            result = self._snapshots.enforce_retention(self._now().date())
            if result.dropped_partitions or result.deleted_rollups:
                log.info("metric_snapshot_retention", dropped=result.dropped_partitions, rollups=result.deleted_rollups)

    def start(self) -> None:
        if self._snapshots is not None:
            self._snapshots.prepare(self._now().date())
        self._scheduler.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._scheduler.stop(timeout)
