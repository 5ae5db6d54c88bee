"""The dead man's switch: page directly when Alertmanager's always-firing Watchdog stops arriving.

Prometheus fires ``Watchdog`` all the time and Alertmanager re-sends it every minute. Each
arrival is a heartbeat (``SwitchStore.watchdog_seen``); it is never stored as an alert nor
routed. When no heartbeat has come for ``window`` seconds (counted from this process's start
until the first one), ``check`` opens one silence episode: an alert ``MonitoringPipelineBroken``
in the history, with outbox jobs on the critical priority's channels, so delivery, retries and
fallback are the outbox's. The next heartbeat closes the episode and queues resolve jobs on the
same channels.

The state is one database row. Opening an episode is a compare-and-set on it (no open episode,
and the last heartbeat is the one this check read), in the same transaction as the alert and its
jobs: any number of workers and instances on one database open it exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric

from receiver.config.routing import Priority, RoutingPolicy
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import Observation, SwitchStore

log = structlog.get_logger("receiver.deadmans_switch")
WATCHDOG = "Watchdog"  # alertname of the always-firing rule in prometheus/rules/alerts.yml
ALERTNAME = "MonitoringPipelineBroken"
SERVICE = "monitoring-receiver"
FINGERPRINT = hashlib.sha256(ALERTNAME.encode()).hexdigest()[:16]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_watchdog(labels: dict[str, str]) -> bool:
    return labels.get("alertname") == WATCHDOG


class DeadMansSwitch:
    def __init__(
        self,
        store: SwitchStore,
        policy: RoutingPolicy,
        configured: Collection[str],
        clock: Callable[[], float],
        window: float,
        *,
        check_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._policy = policy
        self._configured = frozenset(configured)
        self._clock = clock
        self._window = window
        self._check_interval = check_interval
        self.started = clock()
        self._next_check = self.started

    def use_policy(self, policy: RoutingPolicy) -> None:
        """A reloaded routing policy (``POST /api/v1/config/reload``) applies from the next cycle on."""
        self._policy = policy

    def heartbeat(self) -> None:
        """A Watchdog arrived (raises ``DatabaseUnavailable``: the webhook answers 503 and is retried)."""
        now = self._clock()
        closed = self._store.watchdog_seen(now)
        if closed is not None:
            log.warning("monitoring pipeline recovered: Watchdog arrived again", alert_id=closed)

    def check(self) -> int | None:
        """Open a silence episode if Watchdog has been silent for the window; at most once per
        ``check_interval``. Returns the new episode's alert id when this call opened it."""
        now = self._clock()
        if now < self._next_check:
            return None
        self._next_check = now + self._check_interval
        state = self._store.switch_state()
        if state.episode_alert_id is not None:
            return None
        silent_since = self.started if state.last_seen is None else max(state.last_seen, self.started)
        if now - silent_since < self._window:
            return None
        opened = self._store.open_silence(self.episode(state.last_seen, now), state.last_seen, now)
        if opened is not None:
            log.error("monitoring pipeline broken: no Watchdog", alert_id=opened, last_seen=state.last_seen)
        return opened

    def episode(self, last_seen: float | None, now: float) -> Observation:
        """The alert of a silence episode starting ``now``, routed like any critical alert."""
        since = (
            f"since {_iso(last_seen)}"
            if last_seen is not None
            else f"since the receiver started at {_iso(self.started)} (none seen yet)"
        )
        labels = {"alertname": ALERTNAME, "priority": Priority.CRITICAL.value, "service": SERVICE, "kind": "meta"}
        rules = self._policy.policy(Priority.CRITICAL)
        channels = tuple(c for c in self._policy.channels_for(labels, Priority.CRITICAL) if c in self._configured)
        if not channels and self._policy.fallback in self._configured:
            channels = (self._policy.fallback,)
        return Observation(
            fingerprint=FINGERPRINT,
            starts_at=now,
            alertname=ALERTNAME,
            status="firing",
            priority=Priority.CRITICAL.value,
            priority_defaulted=False,
            service=SERVICE,
            labels=labels,
            annotations={
                "summary": f"monitoring pipeline broken: no Watchdog from Alertmanager {since}",
                "description": (
                    f"The receiver's dead man's switch: no Watchdog for {self._window:g}s. Prometheus, "
                    "Alertmanager or the path between them and the receiver is down, so other alerts "
                    "may not be reaching anyone."
                ),
                "runbook_url": "/runbooks/monitoringpipelinebroken",  # on RECEIVER_EXTERNAL_URL
            },
            generator_url="",
            ends_at=None,
            content_hash=FINGERPRINT,
            channels=channels,
            retry_budget=rules.retry_budget,
            ack_deadline=rules.ack_deadline,
        )


class DeadMansSwitchCollector:
    """The switch's state from the database at scrape time (exact whichever worker answers)."""

    def __init__(self, store: SwitchStore) -> None:
        self._store = store

    def collect(self) -> Iterable[Metric]:
        try:
            state = self._store.switch_state()
        except DatabaseUnavailable:
            return  # receiver_database_up reports it
        if state.last_seen is not None:
            yield GaugeMetricFamily(
                "receiver_watchdog_last_seen_timestamp_seconds",
                "When the last Watchdog arrived from Alertmanager (Unix time)",
                value=state.last_seen,
            )
        yield GaugeMetricFamily(
            "receiver_deadmans_switch_firing",
            "1 while the dead man's switch has paged and no Watchdog has arrived since",
            value=0.0 if state.episode_alert_id is None else 1.0,
        )
