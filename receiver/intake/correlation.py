"""Which incident an alert joins: the correlation rules over the platform's topology. Pure: no I/O.

An alert belongs to a part of the topology (``receiver/config/topology.py``) by its labels. The
store calls ``IncidentRules.plan`` inside the transaction that records a webhook, with the open
incidents (and those resolved within the cool-down) of the alerts' connected components locked,
and persists the plan (docs/alerting.md, "Incidents"). For a firing alert on part P, in order:

1. **same part**: it joins the open incident that has an alert on P still firing, or resolved
   less than the window ago;
2. **dependency**: else it joins, as a symptom, the open incident that has such an alert on one of
   P's transitive dependencies;
3. **reopen**: else an incident resolved less than the cool-down ago that had an alert on P (or on
   one of its dependencies) opens again, and it joins that one: flapping pages once;
4. otherwise it opens an incident of its own, and is its probable cause.

**Late upstream**: open incidents whose probable cause is on a part that depends on P, opened
less than the window ago, were symptoms of this alert all along: they merge into one incident (the
earliest opened, whose page went out first) and P's alert becomes the probable cause. Alerts whose
labels match no part are their own incident (reopened by the same alert within the cool-down).
When several incidents qualify, the earliest opened wins. Within a webhook, alerts are taken
upstream first, so a cause and its symptoms that arrive together make one incident at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from receiver.config.routing import Priority
from receiver.config.topology import Selector, Topology
from receiver.store.incidents import (
    OPEN,
    RESOLVED,
    Arrival,
    Departure,
    IncidentState,
    Joined,
    Merged,
    Opened,
    Plan,
)

RANK = {p.value: len(Priority) - i for i, p in enumerate(Priority)}  # critical 4 ... low 1
UNMATCHED_COMPONENT = "alert:"  # + fingerprint: an alert that matches no part is a component of its own


def rank(priority: str) -> int:
    return RANK.get(priority, RANK[Priority.HIGH.value])


class PartIndex:
    """Labels -> the first part (in file order) one of whose selectors matches.

    Each selector is filed under one label pair it requires (an equality matcher), else under a
    label it requires to be present (a regular expression that cannot match ""), else scanned:
    a lookup costs one dictionary probe per label of the alert, however many parts there are.
    """

    def __init__(self, topology: Topology) -> None:
        self._by_pair: dict[tuple[str, str], list[tuple[int, int, Selector, str]]] = {}
        self._by_label: dict[str, list[tuple[int, int, Selector, str]]] = {}
        self._scan: list[tuple[int, int, Selector, str]] = []
        for p, part in enumerate(topology.parts):
            for s, selector in enumerate(part.selectors):
                entry = (p, s, selector, part.name)
                pair = next(((m.label, m.value) for m in selector.matchers if m.op == "=" and m.value), None)
                present = next(
                    (
                        m.label
                        for m in selector.matchers
                        if m.op == "=~" and m.pattern is not None and m.pattern.fullmatch("") is None
                    ),
                    None,
                )
                if pair is not None:
                    self._by_pair.setdefault(pair, []).append(entry)
                elif present is not None:
                    self._by_label.setdefault(present, []).append(entry)
                else:
                    self._scan.append(entry)

    def part_of(self, labels: Mapping[str, str]) -> str | None:
        best: tuple[int, int, Selector, str] | None = None
        for candidates in itertools.chain(
            (self._by_pair.get(item, ()) for item in labels.items()),
            (self._by_label.get(name, ()) for name in labels),
            (self._scan,),
        ):
            for entry in candidates:
                if (best is None or entry[:2] < best[:2]) and entry[2].matches(labels):
                    best = entry
        return None if best is None else best[3]


@dataclass
class _Member:
    part: str | None
    firing: bool
    changed_at: float


@dataclass
class _Incident:
    """An incident while the plan is made: ids below 0 are opened by this plan."""

    id: int
    component: str
    status: str
    opened_at: float
    resolved_at: float | None
    cause_alert_id: int
    cause_part: str | None
    priority: str
    members: dict[int, _Member] = field(default_factory=dict)
    touched: bool = False

    @property
    def age(self) -> tuple[float, int]:
        """Sorts the earliest opened first; one opened by this plan after every stored one."""
        return self.opened_at, self.id if self.id > 0 else 1 << 62

    def related(self, part: str, now: float, window: float) -> bool:
        """An alert on ``part`` fires here, or resolved less than ``window`` ago."""
        return any(m.part == part and (m.firing or now - m.changed_at < window) for m in self.members.values())

    def had(self, part: str) -> bool:
        return any(m.part == part for m in self.members.values())


class IncidentRules:
    """The correlation rules (the store's ``Correlator``) and the part of an alert (for intake)."""

    def __init__(self, topology: Topology, window: float, cooldown: float, hold: float = 0.0) -> None:
        self.topology = topology
        self.window = window
        self._cooldown = cooldown
        self._hold = hold
        self._index = PartIndex(topology)
        self._ancestors: dict[str, frozenset[str]] = {}

    @property
    def cooldown(self) -> float:
        return self._cooldown

    @property
    def hold(self) -> float:
        return self._hold

    def place(self, labels: Mapping[str, str], fingerprint: str) -> tuple[str | None, str]:
        """(part, component) of an alert; an alert matching no part is a component of its own."""
        part = self._index.part_of(labels)
        if part is None:
            return None, UNMATCHED_COMPONENT + fingerprint
        return part, self.topology.component(part)

    def ancestors(self, part: str) -> frozenset[str]:
        """Every part ``part`` depends on, transitively (memoised; iterative for deep graphs)."""
        known = self._ancestors.get(part)
        if known is not None:
            return known
        stack = [part]
        while stack:
            name = stack[-1]
            pending = [d for d in self.topology.part(name).depends_on if d not in self._ancestors]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if name not in self._ancestors:
                deps = self.topology.part(name).depends_on
                self._ancestors[name] = frozenset(deps).union(*(self._ancestors[d] for d in deps))
        return self._ancestors[part]

    def upstream_of(self, upstream: str, part: str | None) -> bool:
        """``part`` depends, transitively, on ``upstream``."""
        return part is not None and part in self.topology and upstream in self.ancestors(part)

    # --- the plan ---

    def plan(
        self,
        incidents: Sequence[IncidentState],
        arrivals: Sequence[Arrival],
        departures: Sequence[Departure],
        now: float,
    ) -> Plan:
        work = {
            i.id: _Incident(
                i.id,
                i.component,
                i.status,
                i.opened_at,
                i.resolved_at,
                i.cause_alert_id,
                i.cause_part,
                i.priority,
                {m.alert_id: _Member(m.part, m.firing, m.changed_at) for m in i.members},
            )
            for i in incidents
        }
        plan = Plan()
        moved: dict[int, int] = {}  # incidents merged in this plan -> where their alerts went
        refs = itertools.count(-1, -1)
        for arrival in sorted(arrivals, key=self._upstream_first):
            self._arrive(arrival, work, plan, refs, moved, now)
        for departure in departures:
            incident = work.get(_follow(moved, departure.incident_id))
            if incident is None:
                continue  # not (or no longer) in an incident: it resolves on its own
            member = incident.members.get(departure.alert_id)
            if member is not None:  # (an alert long resolved may not have been read: it fires no more)
                member.firing, member.changed_at = False, now
            incident.touched = True
        for incident in work.values():
            if incident.status == OPEN and incident.touched and not any(m.firing for m in incident.members.values()):
                incident.status, incident.resolved_at = RESOLVED, now
                plan.resolved.append(incident.id)
        return plan

    def _upstream_first(self, arrival: Arrival) -> tuple[int, int, int]:
        depth = len(self.ancestors(arrival.part)) if arrival.part is not None and arrival.part in self.topology else 0
        return depth, -rank(arrival.priority), arrival.alert_id

    def _arrive(
        self,
        arrival: Arrival,
        work: dict[int, _Incident],
        plan: Plan,
        refs: Iterator[int],
        moved: dict[int, int],
        now: float,
    ) -> None:
        rules = self.topology.rules
        part = arrival.part
        same = [i for i in work.values() if i.component == arrival.component]
        open_ = [i for i in same if i.status == OPEN]
        target: _Incident | None = None
        rule = ""
        if part is None:  # matches no part: its own incident, reopened by the same alert in the cool-down
            target, rule = _latest_resolved(i for i in same if self._reopenable(i, now)), "reopened"
        else:
            ancestors = self.ancestors(part) if part in self.topology else frozenset()
            if rules.same_part:
                target, rule = _earliest(i for i in open_ if i.related(part, now, self.window)), "same_part"
            if target is None and rules.dependencies:
                target = _earliest(i for i in open_ if any(i.related(q, now, self.window) for q in ancestors))
                rule = "dependency"
            if target is None:
                reach = {part, *ancestors} if rules.dependencies else {part}
                target = _latest_resolved(i for i in same if self._reopenable(i, now) and any(i.had(q) for q in reach))
                rule = "reopened"
        if target is not None and target.status == RESOLVED:
            target.status, target.resolved_at = OPEN, None
            plan.reopened.append(target.id)
        downstream = []
        if part is not None and rules.late_upstream:
            downstream = [
                i
                for i in open_
                if i is not target and self.upstream_of(part, i.cause_part) and now - i.opened_at < self.window
            ]
        if target is None and downstream:
            # The dependents' incidents opened first: the earliest one (whose page went out) takes
            # this alert as its probable cause, and the others merge into it.
            target = min(downstream, key=lambda i: i.age)
            downstream.remove(target)
            rule = "late_upstream"
            target.cause_alert_id, target.cause_part = arrival.alert_id, part
            plan.causes[target.id] = arrival.alert_id
        if target is None:
            ref = next(refs)
            work[ref] = _Incident(ref, arrival.component, OPEN, now, None, arrival.alert_id, part, arrival.priority)
            work[ref].members[arrival.alert_id] = _Member(part, True, now)
            plan.opened.append(Opened(ref, arrival))
            return
        escalates = rank(arrival.priority) > rank(target.priority)
        if escalates:
            target.priority = arrival.priority
            plan.priorities[target.id] = arrival.priority
        target.members[arrival.alert_id] = _Member(part, True, now)
        target.touched = True
        plan.joined.append(Joined(arrival, target.id, rule, escalates))
        for other in downstream:
            target = self._merge(other, target, work, plan, moved)

    def _merge(
        self, other: _Incident, target: _Incident, work: dict[int, _Incident], plan: Plan, moved: dict[int, int]
    ) -> _Incident:
        """``other``'s alerts were symptoms of ``target``'s probable cause: one incident, with the
        identity of the earlier opened (its page went out first) and ``target``'s probable cause.
        Returns the incident that remains."""
        survivor, gone = (target, other) if target.age <= other.age else (other, target)
        if survivor is other:  # target's identity goes; its probable cause, upstream of other's, stays
            survivor.cause_alert_id, survivor.cause_part = target.cause_alert_id, target.cause_part
            plan.causes.pop(target.id, None)
            plan.causes[survivor.id] = target.cause_alert_id
        survivor.members.update(gone.members)
        survivor.touched = True
        if rank(gone.priority) > rank(survivor.priority):
            survivor.priority = gone.priority
            plan.priorities[survivor.id] = gone.priority
        plan.priorities.pop(gone.id, None)
        if gone.id < 0:  # opened by this plan: never stored; its cause joins the survivor instead
            opened = next(o for o in plan.opened if o.ref == gone.id)
            plan.opened.remove(opened)
            plan.joined.append(Joined(opened.cause, survivor.id, "late_upstream", False))
        else:
            plan.merged.append(Merged(gone.id, survivor.id))
        plan.joined[:] = [
            Joined(j.alert, survivor.id, j.rule, j.escalates) if j.incident == gone.id else j for j in plan.joined
        ]
        moved[gone.id] = survivor.id
        del work[gone.id]
        return survivor

    def _reopenable(self, incident: _Incident, now: float) -> bool:
        return (
            incident.status == RESOLVED
            and incident.resolved_at is not None
            and now - incident.resolved_at < self._cooldown
        )


def _follow(moved: Mapping[int, int], incident: int) -> int:
    while incident in moved:
        incident = moved[incident]
    return incident


def _earliest(incidents: Iterable[_Incident]) -> _Incident | None:
    return min(incidents, key=lambda i: i.age, default=None)


def _latest_resolved(incidents: Iterable[_Incident]) -> _Incident | None:
    return max(incidents, key=lambda i: (i.resolved_at or 0.0, i.id), default=None)
