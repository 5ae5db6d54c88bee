"""Alertmanager 0.25's dispatcher and notification pipeline, replayed over would-be alerts.

Each alert arrives when Prometheus would have sent it (``starts_at``, its firing time) and is
resolved at ``ends_at``. Per route it matches (``Route.match``) it joins the aggregation group
of (route, ``group_by`` labels), created on first use. A new group flushes after
``group_wait``, then every ``group_interval``; a flush notifies each integration of the
route's receiver when the dedup stage would (``DedupStage.needsUpdate``): a firing alert not
in the last notification, everything resolved, a newly resolved alert (``send_resolved``),
or ``repeat_interval`` since the last one. Inhibited alerts are removed first (``MuteStage``:
a firing source alert with the ``equal`` labels, not itself a target). Resolved alerts leave
the group after a flush; an empty group is removed by the dispatcher's sweep (every 30 s,
taken on the epoch's 30 s ticks), after which the next alert starts a new group with
``group_wait`` again.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ops.rules.alertmanager_config import AlertmanagerConfig, InhibitRule, Route, matches_all
from ops.rules.evaluation import Labels

SWEEP_SECONDS = 30.0


@dataclass(frozen=True)
class Alert:
    """An alert as Alertmanager holds it."""

    labels: Labels
    starts_at: float
    ends_at: float | None
    annotations: Callable[[float], Mapping[str, str]] = field(compare=False, repr=False, default=lambda _: {})
    rule: str = field(compare=False, default="")  # the key of the rule that raised it

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def resolved(self, at: float) -> bool:
        return self.ends_at is not None and self.ends_at <= at

    def active(self, at: float) -> bool:
        return self.starts_at <= at and not self.resolved(at)


@dataclass(frozen=True)
class Notification:
    """What one integration of one receiver was sent at ``at``."""

    at: float
    receiver: str
    integration: str
    route: str
    group: Labels
    firing: tuple[Alert, ...]
    resolved: tuple[Alert, ...]


@dataclass
class _Group:
    route: Route
    labels: Labels
    alerts: dict[Labels, Alert] = field(default_factory=dict)
    emptied_at: float | None = None


@dataclass
class _LogEntry:
    firing: frozenset[Labels]
    resolved: frozenset[Labels]
    at: float


def inhibited(alert: Alert, at: float, rules: Sequence[InhibitRule], alerts: Sequence[Alert]) -> bool:
    """Alertmanager's ``Inhibitor.Mutes`` at time ``at``, ``alerts`` being every alert it has received."""
    labels = alert.label_map
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        two_sided = matches_all(rule.source, labels)
        for source in alerts:
            if not source.active(at):
                continue
            source_labels = source.label_map
            if not matches_all(rule.source, source_labels):
                continue
            if any(source_labels.get(n, "") != labels.get(n, "") for n in rule.equal):
                continue
            if two_sided and matches_all(rule.target, source_labels):
                continue
            return True
    return False


def _swept(group: _Group, at: float) -> bool:
    """The dispatcher's sweep removed the (empty) group by ``at``."""
    if group.alerts or group.emptied_at is None:
        return False
    return math.ceil(group.emptied_at / SWEEP_SECONDS) * SWEEP_SECONDS <= at


def dispatch(config: AlertmanagerConfig, alerts: Sequence[Alert], until: float) -> list[Notification]:
    """Every notification Alertmanager would send for ``alerts`` up to ``until``, in time order."""
    order = itertools.count()
    events: list[tuple[float, int, int, object]] = []  # (time, kind: 0 arrive 1 flush, seq, payload)

    def schedule(at: float, group: _Group) -> None:
        if at <= until:
            heapq.heappush(events, (at, 1, next(order), group))

    for alert in alerts:
        heapq.heappush(events, (alert.starts_at, 0, next(order), alert))
    groups: dict[tuple[str, Labels], _Group] = {}
    log: dict[tuple[str, Labels, str, int], _LogEntry] = {}
    sources = [a for a in alerts if any(matches_all(r.source, a.label_map) for r in config.inhibit_rules)]
    notifications: list[Notification] = []

    while events:
        at, kind, _, payload = heapq.heappop(events)
        if kind == 0:
            assert isinstance(payload, Alert)
            for route in config.route.match(payload.label_map):
                key = (route.path, route.group_labels(payload.label_map))
                group = groups.get(key)
                if group is not None and _swept(group, at):
                    del groups[key]  # its timer stopped with it
                    group = None
                if group is None:
                    group = groups[key] = _Group(route, key[1])
                    schedule(at + route.group_wait, group)
                group.alerts[payload.labels] = payload
                group.emptied_at = None
            continue
        assert isinstance(payload, _Group)
        group = payload
        if groups.get((group.route.path, group.labels)) is not group:
            continue
        if not group.alerts:
            if _swept(group, at):
                del groups[(group.route.path, group.labels)]
            else:
                schedule(at + group.route.group_interval, group)
            continue
        notifications += _flush(config, group, at, log, sources)
        for labels, alert in list(group.alerts.items()):
            if alert.resolved(at):
                del group.alerts[labels]
        if not group.alerts:
            group.emptied_at = at
        schedule(at + group.route.group_interval, group)
    return notifications


def _flush(
    config: AlertmanagerConfig,
    group: _Group,
    at: float,
    log: dict[tuple[str, Labels, str, int], _LogEntry],
    sources: Sequence[Alert],
) -> list[Notification]:
    alerts = sorted(group.alerts.values(), key=lambda a: a.labels)
    shown = [a for a in alerts if not inhibited(a, at, config.inhibit_rules, sources)]
    if not shown:
        return []
    firing = tuple(a for a in shown if not a.resolved(at))
    resolved = tuple(a for a in shown if a.resolved(at))
    firing_set = frozenset(a.labels for a in firing)
    resolved_set = frozenset(a.labels for a in resolved)
    route = group.route
    out = []
    for index, integration in enumerate(config.receivers[route.receiver]):
        key = (route.path, group.labels, route.receiver, index)
        entry = log.get(key)
        if entry is None:
            update = bool(firing)
        elif not firing_set <= entry.firing:
            update = True
        elif not firing:
            update = bool(entry.firing)
        elif integration.send_resolved and not resolved_set <= entry.resolved:
            update = True
        else:
            update = entry.at < at - route.repeat_interval
        if not update:
            continue
        sent_resolved = resolved if integration.send_resolved else ()
        log[key] = _LogEntry(firing_set, resolved_set, at)
        if not firing and not sent_resolved:
            continue
        out.append(Notification(at, route.receiver, integration.kind, route.path, group.labels, firing, sent_resolved))
    return out
