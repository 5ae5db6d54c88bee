"""The intake's counters, on an explicit registry: webhooks accepted and refused, alerts, Watchdogs.

Under gunicorn they are aggregated across workers by prometheus_client's multiprocess mode.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

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
