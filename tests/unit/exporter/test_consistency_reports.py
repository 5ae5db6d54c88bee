"""The consistency worker's metrics, served by the exporter as one process would have counted them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.consistency_reports import ConsistencyReports
from exporter.metric_snapshot import take
from exporter.metrics import ConsistencyMetrics, EventMetrics

RULE = "txn"


class Worker:
    """A worker's registry, as exporter/consistency_worker.py builds it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = EventMetrics(self.registry)
        self.metrics = ConsistencyMetrics(self.registry)

    def check(self, records: int, gaps: int = 0, delays: tuple[float, ...] = (), pending: int = 0) -> None:
        self.metrics.records.inc(records)
        if gaps:
            self.metrics.violations.labels("version_gap", "asset-service").inc(gaps)
        for delay in delays:
            self.metrics.sync_delay.labels(RULE).observe(delay)
        self.metrics.pending.labels(RULE).set(pending)


def exporter() -> tuple[CollectorRegistry, EventMetrics, ConsistencyReports]:
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    reports = ConsistencyReports(events)
    registry.register(reports)
    return registry, events, reports


def test_before_any_report_the_families_are_those_of_a_worker_that_has_read_nothing() -> None:
    registry, _, _ = exporter()
    fresh = CollectorRegistry()
    ConsistencyMetrics(fresh)
    served = generate_latest(registry).decode()
    assert generate_latest(fresh).decode() in served
    assert "monitoring_consistency_records_total 0.0" in served


def test_counts_carry_on_across_workers_and_a_gauge_is_the_latest_workers() -> None:
    registry, _, reports = exporter()
    first = Worker()
    first.check(100, gaps=2, delays=(0.3, 2.0), pending=7)
    reports.receive(take(first.registry))
    first.check(50, gaps=1, pending=4)
    reports.receive(take(first.registry))
    reports.worker_ended()
    assert registry.get_sample_value("monitoring_consistency_pending_followups", {"rule": RULE}) == 4
    second = Worker()  # a new leadership term, or a restart: it counts from zero
    second.check(30, gaps=1, delays=(0.3,), pending=1)
    reports.receive(take(second.registry))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("monitoring_consistency_records_total") == 180
    gap = {"kind": "version_gap", "source": "asset-service"}
    assert value("monitoring_consistency_violations_total", **gap) == 4
    assert value("monitoring_consistency_violations_created", **gap) == first.registry.get_sample_value(
        "monitoring_consistency_violations_created", gap
    )
    assert value("monitoring_sync_delay_seconds_count", rule=RULE) == 3
    assert value("monitoring_sync_delay_seconds_bucket", rule=RULE, le="0.5") == 2
    assert value("monitoring_sync_delay_seconds_sum", rule=RULE) == pytest.approx(2.6)
    assert value("monitoring_consistency_pending_followups", rule=RULE) == 1


def test_the_workers_loop_errors_commits_and_retries_are_added_to_the_exporters_own_counters() -> None:
    registry, events, reports = exporter()
    events.commits.labels("ok").inc(10)  # the exporter's own consumer
    worker = Worker()
    worker.events.commits.labels("ok").inc(3)
    worker.events.loop_errors.labels("consistency").inc()
    reports.receive(take(worker.registry))
    worker.events.commits.labels("ok").inc(2)
    reports.receive(take(worker.registry))
    reports.worker_ended()
    restarted = Worker()
    restarted.events.commits.labels("ok").inc(1)
    restarted.events.retries.labels("asset.events").inc(4)
    reports.receive(take(restarted.registry))
    assert registry.get_sample_value("monitoring_offset_commits_total", {"outcome": "ok"}) == 16
    assert registry.get_sample_value("monitoring_loop_errors_total", {"loop": "consistency"}) == 1
    assert registry.get_sample_value("monitoring_event_retries_total", {"topic": "asset.events"}) == 4
    exposition = generate_latest(registry).decode()
    assert exposition.count("# TYPE monitoring_offset_commits_total counter") == 1  # one family, not two
