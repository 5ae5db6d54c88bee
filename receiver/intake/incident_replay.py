"""The incident rules replayed over a stream of alerts, in memory: which alert would have paged.

The receiver decides incidents in its database (``receiver/store/incident_writes.py``); a backtest
(``monitoring rules backtest``) has no database, only the alerts a rule set would have raised and
when. ``IncidentReplay`` keeps the incidents in memory and applies the same ``IncidentRules`` plans
to them, so that both agree on which alert opens an incident (a page), raises its priority (a page
on the same incident) or joins it (a follow-up), and when an incident resolves. Pure: no I/O.
It does not model the page's hold or the resolve's delay by the cool-down; reopening within the
cool-down (no new page) it does.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from receiver.intake.correlation import IncidentRules
from receiver.store.incidents import OPEN, RESOLVED, Arrival, Departure, IncidentState, Member

PAGE, ESCALATE, UPDATE = "page", "escalate", "update"


@dataclass
class _Incident:
    id: int
    component: str
    status: str
    opened_at: float
    resolved_at: float | None
    cause_alert_id: int
    cause_part: str | None
    priority: str
    members: dict[int, Member] = field(default_factory=dict)

    def state(self) -> IncidentState:
        return IncidentState(
            self.id,
            self.component,
            self.status,
            self.opened_at,
            self.resolved_at,
            self.cause_alert_id,
            self.cause_part,
            self.priority,
            tuple(self.members.values()),
        )


class IncidentReplay:
    def __init__(self, rules: IncidentRules) -> None:
        self._rules = rules
        self._incidents: dict[int, _Incident] = {}
        self._ids = itertools.count(1)
        self._alert_ids: dict[Hashable, int] = {}
        self._incident_of: dict[int, int] = {}  # alert -> incident

    def _alert_id(self, key: Hashable) -> int:
        return self._alert_ids.setdefault(key, len(self._alert_ids) + 1)

    def incident_of(self, key: Hashable) -> int | None:
        alert = self._alert_ids.get(key)
        return None if alert is None else self._incident_of.get(alert)

    def members(self, incident: int) -> list[Hashable]:
        """The keys of the alerts in ``incident``."""
        return [key for key, alert in self._alert_ids.items() if self._incident_of.get(alert) == incident]

    def fire(
        self, key: Hashable, labels: Mapping[str, str], fingerprint: str, priority: str, at: float
    ) -> tuple[int, str]:
        """Alert ``key`` fires at ``at``: (its incident, PAGE | ESCALATE | UPDATE)."""
        alert = self._alert_id(key)
        part, component = self._rules.place(labels, fingerprint)
        arrival = Arrival(alert, fingerprint, part, component, priority)
        related = [i.state() for i in self._incidents.values() if i.component == component and i.status != "merged"]
        plan = self._rules.plan(related, [arrival], [], at)
        outcome = UPDATE
        if plan.opened:  # one arrival: it opened an incident of its own
            incident = _Incident(next(self._ids), component, OPEN, at, None, alert, part, priority)
            self._incidents[incident.id] = incident
            incident.members[alert] = Member(alert, fingerprint, part, priority, True, at)
            self._incident_of[alert] = incident.id
            outcome = PAGE
        for join in plan.joined:
            incident = self._incidents[join.incident]
            incident.members[alert] = Member(alert, fingerprint, part, priority, True, at)
            self._incident_of[alert] = incident.id
            if join.escalates:
                outcome = ESCALATE
        for reopened in plan.reopened:
            self._incidents[reopened].status, self._incidents[reopened].resolved_at = OPEN, None
        for merge in plan.merged:
            gone, into = self._incidents[merge.incident], self._incidents[merge.into]
            for member, state in gone.members.items():
                into.members[member] = state
                self._incident_of[member] = into.id
            gone.members.clear()
            gone.status = "merged"
        for incident_id, cause in plan.causes.items():
            incident = self._incidents[incident_id]
            incident.cause_alert_id = cause
            incident.cause_part = incident.members[cause].part if cause in incident.members else part
        for incident_id, new_priority in plan.priorities.items():
            self._incidents[incident_id].priority = new_priority
        return self._incident_of[alert], outcome

    def resolve(self, key: Hashable, at: float) -> int | None:
        """Alert ``key`` resolves at ``at``; the incident that resolved with it, if it did."""
        alert = self._alert_ids.get(key)
        incident_id = None if alert is None else self._incident_of.get(alert)
        if alert is None or incident_id is None:
            return None
        incident = self._incidents[incident_id]
        plan = self._rules.plan([incident.state()], [], [Departure(alert, incident_id)], at)
        member = incident.members[alert]
        incident.members[alert] = Member(alert, member.fingerprint, member.part, member.priority, False, at)
        if incident_id in plan.resolved:
            incident.status, incident.resolved_at = RESOLVED, at
            return incident_id
        return None
