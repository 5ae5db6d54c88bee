"""Incidents: alerts grouped along the platform's dependency graph, paged once per incident.

The store decides which incident an alert joins inside the transaction that records it, so that
workers and receivers on one database agree (docs/alerting.md, "Incidents"). It calls a
``Correlator`` (the pure rules, ``receiver/intake/correlation.py``, wired by the web layer) with
what it read under the component's lock, and persists the ``Plan`` it gets back with the alerts,
their jobs and domain events. This module holds that interface, the plan, and the records the
API and the console read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from receiver.store.audit import AuditContext
from receiver.store.history import AlertRecord, NewJob

OPEN, RESOLVED, MERGED = "open", "resolved", "merged"
# Channels that get an incident's follow-up messages (an alert joining it, a merge, a reopen): chat
# and machine integrations. SMS, PagerDuty and e-mail are paged once, and again only on escalation.
UPDATE_CHANNELS = frozenset({"slack", "webhook", "file", "console"})


class IncidentNotFound(Exception):
    """No incident has the requested id."""


# --- what the correlator is given ---


@dataclass(frozen=True)
class Member:
    """An incident's alerts on one part, as the rules see them (the store reads one row per part):
    whether one fires there, and when one last fired or resolved. ``alert_id`` identifies the member
    (the store's are negative: a row per part, not an alert)."""

    alert_id: int
    fingerprint: str
    part: str | None
    priority: str
    firing: bool
    changed_at: float  # when it last fired (first seen) or resolved


@dataclass(frozen=True)
class IncidentState:
    """An open incident, or one resolved within the cool-down, with its alerts."""

    id: int
    component: str
    status: str  # open | resolved
    opened_at: float
    resolved_at: float | None
    cause_alert_id: int
    cause_part: str | None
    priority: str
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Arrival:
    """An alert that fires in this webhook: new, or firing again after it resolved."""

    alert_id: int
    fingerprint: str
    part: str | None  # None: its labels match no part of the topology
    component: str
    priority: str


@dataclass(frozen=True)
class Departure:
    """An alert of an incident that resolved in this webhook."""

    alert_id: int
    incident_id: int


# --- what it answers: the plan the store persists ---
# Incidents this plan opens have negative ids (-1, -2, ...) until the store inserts them.


@dataclass(frozen=True)
class Opened:
    ref: int
    cause: Arrival


@dataclass(frozen=True)
class Joined:
    alert: Arrival
    incident: int
    rule: str  # same_part | dependency | late_upstream (it became the probable cause) | reopened
    escalates: bool  # its priority is above the incident's: the incident pages again on its channels


@dataclass(frozen=True)
class Merged:
    incident: int  # merged away, into ``into``
    into: int


@dataclass(frozen=True)
class Plan:
    opened: list[Opened] = field(default_factory=list)
    joined: list[Joined] = field(default_factory=list)
    merged: list[Merged] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    causes: dict[int, int] = field(default_factory=dict)  # incident -> the alert that is now its probable cause
    priorities: dict[int, str] = field(default_factory=dict)  # incident -> its new (higher) priority

    @property
    def empty(self) -> bool:
        return not (self.opened or self.joined or self.merged or self.reopened or self.resolved)


class Correlator(Protocol):
    """The rules, called inside the recording transaction with the component's incidents locked."""

    @property
    def window(self) -> float:
        """Seconds after an alert resolved during which alerts related to it still join its incident."""
        ...

    @property
    def cooldown(self) -> float:
        """Seconds after an incident resolves during which a firing alert reopens it."""
        ...

    @property
    def hold(self) -> float:
        """Seconds a new incident's page waits, for related alerts arriving at the same moment to merge."""
        ...

    def plan(
        self,
        incidents: Sequence[IncidentState],
        arrivals: Sequence[Arrival],
        departures: Sequence[Departure],
        now: float,
    ) -> Plan: ...


# --- what the API, the console and the channels read ---


@dataclass(frozen=True)
class IncidentRecord:
    id: int
    key: str  # stable and unique: PagerDuty's dedup_key, the domain events' aggregate
    title: str  # the probable cause: "ServiceDown (transaction-service)"
    part: str | None
    component: str
    status: str  # open | resolved | merged
    priority: str
    cause_alert_id: int
    opened_at: float
    updated_at: float
    resolved_at: float | None
    acked_at: float | None
    acked_by: str | None
    escalations: int
    merged_into: int | None
    reopened: int
    channels: tuple[str, ...]  # paged so far
    alerts: int  # how many alerts it groups


@dataclass(frozen=True)
class IncidentAlert:
    alert: AlertRecord
    role: str  # cause | same_part | symptom

    @staticmethod
    def role_of(alert: AlertRecord, part: str | None, incident: IncidentRecord) -> str:
        if alert.id == incident.cause_alert_id:
            return "cause"
        return "same_part" if part is not None and part == incident.part else "symptom"


@dataclass(frozen=True)
class IncidentEntry:
    at: float
    # opened | joined | escalated | merged | cause | alert_resolved | resolved | reopened | acknowledged
    # | notified | ack_escalated
    kind: str
    alert_id: int | None
    channel: str | None
    actor: str | None
    detail: str


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    priority: str | None = None
    part: str | None = None
    since: float | None = None  # opened_at >= since
    until: float | None = None
    limit: int = 100
    after_id: int | None = None


@dataclass(frozen=True)
class DueIncidentEscalation:
    incident: IncidentRecord
    escalations: int


class IncidentStore(Protocol):
    def incidents(self, query: IncidentFilter) -> list[IncidentRecord]: ...

    def incident(self, incident_id: int) -> tuple[IncidentRecord, list[IncidentAlert], list[IncidentEntry]]: ...

    def incident_of(self, alert_id: int) -> int | None:
        """The open or resolved incident the alert belongs to (None: it pages on its own)."""
        ...

    def due_incident_escalations(self, now: float, limit: int) -> list[DueIncidentEscalation]: ...

    def acknowledge_incident(
        self,
        incident_id: int,
        who: str,
        comment: str,
        now: float,
        pages: NewJob | None = None,
        *,
        audit_context: AuditContext | None = None,
        link: str | None = None,
        link_alert: int | None = None,
    ) -> IncidentRecord:
        """Acknowledge the incident and its alerts, stop its escalation; on the first acknowledgement
        of an open incident that paged ``pages.channel``, queue ``pages`` (PagerDuty acknowledge).
        ``link``: the one-click link of alert ``link_alert``, marked used in the same transaction
        (``AckLinkUsed`` when it was used before: nothing changes then)."""
        ...
