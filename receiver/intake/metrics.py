"""The intake's metrics, on an explicit registry: webhooks accepted and refused, alerts, Watchdogs,
and how long each stage of a webhook takes.

Under gunicorn they are aggregated across workers by prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Histogram

STAGES = ("decode", "observe", "store")
# A stage takes from tens of microseconds (decoding) to the database's round trips (storing).
STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REJECTION_REASONS = ("unauthorized", "too_large", "invalid", "storage", "overload")


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhooks_received = Counter(
            "receiver_webhooks_received_total", "Alertmanager webhooks accepted and stored", registry=registry
        )
        self.alerts_received = Counter(
            "receiver_alerts_received_total", "Alerts in accepted webhooks", ["status"], registry=registry
        )
        self.webhooks_rejected = Counter(
            "receiver_webhooks_rejected_total",
            "Webhooks refused, by reason (unauthorized, too_large, invalid, storage, overload)",
            ["reason"],
            registry=registry,
        )
        for reason in REJECTION_REASONS:  # each reason's series exists (at 0) before the first refusal
            self.webhooks_rejected.labels(reason)
        self.priority_defaulted = Counter(
            "receiver_alerts_priority_defaulted_total",
            "Alerts with a missing or unknown priority label, treated as high",
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "receiver_webhook_stage_duration_seconds",
            "Time a webhook spends in each intake stage: decode (read and parse the body), observe (priority "
            "and channels per alert, and its topology part), store (the history's transaction)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.watchdogs_received = Counter(
            "receiver_watchdogs_received_total",
            "Watchdog alerts from Alertmanager (dead man's switch heartbeats; never routed)",
            registry=registry,
        )
        self.incidents_opened = Counter(
            "receiver_incidents_opened_total",
            "Incidents opened: each pages once (RECEIVER_TOPOLOGY_FILE set)",
            registry=registry,
        )
        self.incident_joins = Counter(
            "receiver_incident_joins_total",
            "Firing alerts that joined an incident already open (or reopened it): an update, not a page",
            registry=registry,
        )
        self.alerts_unmatched = Counter(
            "receiver_alerts_unmatched_total",
            "Firing alerts whose labels match no part of the topology: each is an incident of its own",
            registry=registry,
        )
        self._stages = {stage: self.stage_seconds.labels(stage) for stage in STAGES}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Record the time the block takes (failed or not) as ``stage``'s."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._stages[stage].observe(time.perf_counter() - started)
