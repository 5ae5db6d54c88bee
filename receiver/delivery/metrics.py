"""Delivery's metrics, on an explicit registry.

Counters count what this process sent (notifications, failures, escalations); under gunicorn they
are aggregated across workers by prometheus_client's multiprocess mode. Outbox depth, the
oldest pending job's age and dead letters are read from the database at scrape time, so
every worker reports the same, true values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from receiver.delivery.templates import FORMATS
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import AlertHistory


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications_sent = Counter(
            "receiver_notifications_sent_total", "Notifications delivered, by channel", ["channel"], registry=registry
        )
        self.notifications_failed = Counter(
            "receiver_notifications_failed_total",
            "Failed delivery attempts, by channel",
            ["channel"],
            registry=registry,
        )
        self.escalations = Counter(
            "receiver_escalations_total", "Unacknowledged alerts escalated past their deadline", registry=registry
        )
        self.worker_errors = Counter(
            "receiver_worker_errors_total", "Unexpected errors in the delivery loop", registry=registry
        )
        self.template_errors = Counter(
            "receiver_template_errors_total",
            "Operator message templates that failed at send time (the packaged template was used), by file",
            ["template"],
            registry=registry,
        )
        for template in FORMATS:  # each template's series exists (at 0) before the first failure
            self.template_errors.labels(template)


class OutboxCollector:
    """Outbox state from the database, built fresh at every scrape."""

    def __init__(self, history: AlertHistory, clock: Callable[[], float]) -> None:
        self._history = history
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("receiver_database_up", "1 when the alert-history database answered this scrape")
        try:
            stats = self._history.outbox_stats(self._clock())
        except DatabaseUnavailable:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        yield GaugeMetricFamily(
            "receiver_outbox_pending_jobs", "Notification jobs not yet delivered", value=stats.pending
        )
        yield GaugeMetricFamily(
            "receiver_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered notification job (0 when none)",
            value=stats.oldest_pending_age,
        )
        yield CounterMetricFamily(
            "receiver_dead_letters", "Notification jobs that exhausted their retry budget", value=stats.dead
        )
