"""The alert-history repository interface and the records it stores.

Times are seconds since the epoch (UTC) as floats: one representation for both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from receiver.store.audit import AuditContext


class AlertNotFound(Exception):
    """No alert has the requested id."""


class AckLinkUsed(Exception):
    """A one-click acknowledge link was used already: it acknowledges once."""


@dataclass(frozen=True)
class Observation:
    """One alert as seen in one webhook, with the routing decided for it."""

    fingerprint: str
    starts_at: float
    alertname: str
    status: str  # firing | resolved
    priority: str
    priority_defaulted: bool
    service: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    ends_at: float | None
    content_hash: str  # labels + annotations; a change re-notifies
    channels: tuple[str, ...]
    retry_budget: int
    ack_deadline: float | None
    digest_at: float | None = None  # when the next e-mail digest goes out (for email_digest jobs)
    # With incidents on (RECEIVER_TOPOLOGY_FILE): the topology part its labels match (None: none) and
    # the connected component the store locks while it correlates; None when incidents are off.
    part: str | None = None
    component: str | None = None


@dataclass(frozen=True)
class RecordOutcome:
    new: int
    updated: int
    jobs: int
    incidents_opened: int = 0
    incidents_joined: int = 0  # alerts that joined an incident already open (or reopened, or merged)
    unmatched: int = 0  # firing alerts whose labels match no part of the topology: their own incident


@dataclass(frozen=True)
class AlertRecord:
    id: int
    fingerprint: str
    starts_at: float
    alertname: str
    status: str
    priority: str
    priority_defaulted: bool
    service: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    first_seen: float
    last_seen: float
    resolved_at: float | None
    acked_at: float | None
    acked_by: str | None
    escalations: int

    @property
    def time_to_ack(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.first_seen

    @property
    def time_to_resolve(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.first_seen


@dataclass(frozen=True)
class AckLinkUse:
    """When a one-click acknowledge link was used, for which alert, and by whom."""

    token_id: str
    alert_id: int
    used_at: float
    used_by: str


@dataclass(frozen=True)
class TimelineEntry:
    at: float
    # received | changed | refired | notified | delivery_failed | dead_letter | acknowledged | escalated
    # | resolved | stale_firing | resend
    kind: str
    channel: str | None
    actor: str | None
    detail: str


@dataclass(frozen=True)
class IncidentNotice:
    """The incident a notification speaks for (docs/alerting.md, "Incidents"): PagerDuty's dedup_key
    is its key, so every page, escalation, acknowledgement and resolve of it is one PagerDuty incident."""

    id: int
    key: str
    title: str  # its probable cause: "ServiceDown (transaction-service)"
    priority: str
    status: str  # open | resolved | merged
    cause_alert_id: int
    alerts: int  # how many alerts it groups


@dataclass(frozen=True)
class Job:
    id: int
    channel: str
    action: str  # trigger | resolve | escalate
    attempts: int  # including the one now claimed
    max_attempts: int
    fallback: bool
    created_at: float
    alert: AlertRecord
    traceparent: str | None = None  # the trace context it was queued in: its delivery span's parent
    thread: int | None = None  # the alert's first trigger job on this channel (e-mail: the thread's first message)
    incident: IncidentNotice | None = None  # the incident it pages, escalates, updates or resolves


@dataclass(frozen=True)
class PendingJob:
    """A notification not yet delivered: waiting (``pending``, due at ``due``) or being sent
    (``sending``, leased until ``due``)."""

    id: int
    channel: str
    action: str
    state: str  # pending | sending
    due: float
    attempts: int
    max_attempts: int
    fallback: bool
    last_error: str | None


@dataclass(frozen=True)
class NewJob:
    channel: str
    action: str
    max_attempts: int
    fallback: bool = False
    not_before: float | None = None  # digest jobs wait for the digest time; others go at once
    incident: int | None = None  # the incident it speaks for (its PagerDuty dedup_key)


@dataclass(frozen=True)
class DueEscalation:
    alert: AlertRecord
    escalations: int


@dataclass(frozen=True)
class AlertFilter:
    status: str | None = None
    priority: str | None = None
    service: str | None = None
    since: float | None = None  # first_seen >= since
    until: float | None = None  # first_seen < until
    limit: int = 100
    after_id: int | None = None  # keyset pagination: alerts with a smaller id (newest first)


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    oldest_pending_age: float
    dead: int
    delivered_by_channel: dict[str, int]


@dataclass(frozen=True)
class SwitchState:
    last_seen: float | None  # the last Watchdog arrival, None before the first one ever
    episode_alert_id: int | None  # the open silence episode's alert, None when Watchdog is arriving


class SwitchStore(Protocol):
    def switch_state(self) -> SwitchState: ...

    def watchdog_seen(self, now: float) -> int | None:
        """Record a Watchdog arrival; close the open episode (resolve jobs on the trigger's channels)
        in the same transaction and return its alert id, or None when none was open."""
        ...

    def open_silence(self, episode: Observation, expected_last_seen: float | None, now: float) -> int | None:
        """Store ``episode`` with its jobs and mark it open, unless an episode is already open or a
        Watchdog arrived since ``expected_last_seen`` was read; return the alert id, or None."""
        ...


class AlertHistory(SwitchStore, Protocol):
    def migrate(self, target: int | None = None) -> int:
        """Apply pending schema migrations (up to ``target``); return the schema version."""
        ...

    def record(self, observations: Sequence[Observation], now: float) -> RecordOutcome:
        """Store a webhook's alerts and their notification jobs in one transaction."""
        ...

    def claim(self, now: float, lease: float, limit: int, *, digest: bool = False) -> list[Job]:
        """Take due jobs (pending, or leased by a worker that died) for this worker: those of the
        e-mail digest when ``digest``, all others otherwise."""
        ...

    def delivered(self, job: Job, now: float) -> None: ...

    def retry_later(self, job: Job, at: float, error: str, now: float) -> None: ...

    def dead_letter(self, job: Job, error: str, now: float, fallback: NewJob | None) -> None: ...

    def acknowledge(
        self,
        alert_id: int,
        who: str,
        comment: str,
        now: float,
        pages: NewJob | None = None,
        *,
        audit_context: AuditContext | None = None,
        link: str | None = None,
    ) -> AlertRecord:
        """Record who acknowledged and stop escalation. On the first acknowledgement of a firing
        alert that ``pages.channel`` was paged for, queue ``pages`` (PagerDuty acknowledge).
        With ``audit_context``, the audit entry is written in the same transaction. ``link``: the id
        of the one-click link used, marked used in the same transaction (``AckLinkUsed`` when it
        was used before: nothing changes then)."""
        ...

    def ack_link_use(self, token_id: str) -> AckLinkUse | None:
        """When the one-click acknowledge link ``token_id`` was used, or None while it is unused."""
        ...

    def due_escalations(self, now: float, limit: int) -> list[DueEscalation]: ...

    def escalate(self, due: DueEscalation, jobs: Sequence[NewJob], next_at: float, now: float) -> bool:
        """Record one escalation unless another worker already did (returns False then)."""
        ...

    def alerts(self, query: AlertFilter) -> list[AlertRecord]: ...

    def alert(self, alert_id: int) -> tuple[AlertRecord, list[TimelineEntry]]: ...

    def pending_jobs(self, alert_id: int) -> list[PendingJob]:
        """The alert's notifications not yet delivered (waiting for a retry or the digest, or being sent),
        soonest first."""
        ...

    def outbox_stats(self, now: float) -> OutboxStats: ...
