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

Instants are compared to the millisecond. Flushes fall on the instants Prometheus evaluates
at (a group's timer runs from the arrival of the alert that started it), so a flush and a
resolution Prometheus sent at that instant are a race that Alertmanager settles within
milliseconds. Taken as the e2e runs settled every such race seen (10 of them): a group's
first flush (``group_wait`` after its first alert) and its first ``group_interval`` tick come
before the resolutions of that instant sent by that alert's rule or a later one
(``Alert.order``: Prometheus evaluates a group's rules in order and sends each rule's alerts
as it goes), so an alert firing for exactly ``group_wait`` is notified; later ticks come after
every resolution of their instant (Alertmanager re-arms a group's timer after each flush, so
its ticks fall later and later behind the instants they started from).

That settlement is a likely order, not a certain one: a tick and a resolution Prometheus sent
at the same instant arrive within the same milliseconds. A notification whose content would
differ had that instant's resolutions come all before or all after the flush is marked
``racy``: Alertmanager may or may not send it (e2e run: a high alert's first tick and the
resolution of the critical alert inhibiting it, both at one evaluation). The other way round, a
flush that the other settlement would make notify alerts this one does not is kept apart
(``Dispatched.unsettled``): Alertmanager may send it, the replay does not count it (e2e run: a
high alert kept inhibited by the likely settlement, paged by Alertmanager).

A resolution is known to one evaluation interval (``Alert.lag``): the replay evaluates over
every sample the TSDB holds, while a live evaluation at an instant may not see yet a scrape (or a
recording) stamped just before it, and resolves the alert one evaluation later. A flush within
that lag after a resolution, or at its end, is a race of the same kind: its notification is
``racy`` when it would differ had every such resolution come ``lag`` later (and after a flush at
that instant), and what only that settlement would
send is ``unsettled`` (e2e runs, three failures: Alertmanager never sent a high copy the replay
paged between its resolution and that of the critical copy muting it, as if the critical's had
come one evaluation later).
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
    order: int = field(compare=False, default=0)  # its rule's position in its group
    lag: float = field(compare=False, default=0.0)  # how much later Prometheus may have resolved it (see the module)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def resolved(self, at: Instant, lagging: bool = False) -> bool:
        """Alertmanager knows at ``at`` that the alert resolved.

        ``lagging``: the resolution came ``lag`` after ``ends_at``, and after a flush at that instant.
        """
        if self.ends_at is None:
            return False
        if lagging:
            return _ms(self.ends_at + self.lag) < at[0]
        return (_ms(self.ends_at), self.order) < at

    def active(self, at: Instant, resolutions: Instant | None = None, lagging: bool = False) -> bool:
        """Arrived by ``at`` and not resolved by ``resolutions`` (``at`` unless told)."""
        return (_ms(self.starts_at), self.order) <= at and not self.resolved(resolutions or at, lagging)

    def resolves_within_lag(self, at: Instant) -> bool:
        """Its resolution falls in the ``lag`` before ``at``: a lagging Prometheus may not have sent it yet."""
        if self.ends_at is None or not self.lag:
            return False
        return _ms(self.ends_at) <= at[0] <= _ms(self.ends_at + self.lag)


Instant = tuple[int, int]  # (milliseconds, the position of the rule whose alert it follows)
_LATE = 1 << 30  # after every rule of the instant


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


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
    racy: bool = False  # a resolution racing the flush (same instant, or within its lag) could change it


@dataclass(frozen=True)
class Dispatched:
    """What Alertmanager would send: ``sent``, in time order, as the replay settles each race;
    ``unsettled``, notifications with firing alerts that only the other settlement of a race at
    their instant would send (``racy``; not in ``sent``, not counted as pages)."""

    sent: list[Notification]
    unsettled: list[Notification]


@dataclass
class _Group:
    route: Route
    labels: Labels
    order: int  # of the alert whose arrival started the group's timer
    alerts: dict[Labels, Alert] = field(default_factory=dict)
    flushes: int = 0
    emptied_at: float | None = None


@dataclass
class _LogEntry:
    firing: frozenset[Labels]
    resolved: frozenset[Labels]
    at: float


def inhibited(
    alert: Alert,
    at: Instant,
    rules: Sequence[InhibitRule],
    alerts: Sequence[Alert],
    resolutions: Instant | None = None,
    lagging: bool = False,
) -> bool:
    """Alertmanager's ``Inhibitor.Mutes`` at ``at``, ``alerts`` being every alert it receives."""
    labels = alert.label_map
    for rule in rules:
        if not matches_all(rule.target, labels):
            continue
        two_sided = matches_all(rule.source, labels)
        for source in alerts:
            if not source.active(at, resolutions, lagging):
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


def dispatch(config: AlertmanagerConfig, alerts: Sequence[Alert], until: float) -> Dispatched:
    """Every notification Alertmanager would send for ``alerts`` up to ``until``."""
    sequence = itertools.count()
    events: list[tuple[Instant, int, int, float, object]] = []  # (instant, kind: 0 arrive 1 flush, seq, time, …)

    def schedule(at: float, group: _Group) -> None:
        if at <= until:
            heapq.heappush(events, ((_ms(at), group.order), 1, next(sequence), at, group))

    for alert in alerts:
        heapq.heappush(events, ((_ms(alert.starts_at), alert.order), 0, next(sequence), alert.starts_at, alert))
    groups: dict[tuple[str, Labels], _Group] = {}
    log: dict[tuple[str, Labels, str, int], _LogEntry] = {}
    sources = [a for a in alerts if any(matches_all(r.source, a.label_map) for r in config.inhibit_rules)]
    notifications: list[Notification] = []
    unsettled: list[Notification] = []

    while events:
        instant, kind, _, at, payload = heapq.heappop(events)
        if kind == 0:
            assert isinstance(payload, Alert)
            for route in config.route.match(payload.label_map):
                key = (route.path, route.group_labels(payload.label_map))
                group = groups.get(key)
                if group is not None and _swept(group, at):
                    del groups[key]  # its timer stopped with it
                    group = None
                if group is None:
                    group = groups[key] = _Group(route, key[1], payload.order)
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
                group.flushes += 1  # an empty group's timer is re-armed too
                schedule(at + group.route.group_interval, group)
            continue
        if group.flushes >= 2:
            instant = (instant[0], _LATE)
        group.flushes += 1
        sent, maybe = _flush(config, group, at, instant, log, sources)
        notifications += sent
        unsettled += maybe
        for labels, alert in list(group.alerts.items()):
            if alert.resolved(instant):
                del group.alerts[labels]
        if not group.alerts:
            group.emptied_at = at
        schedule(at + group.route.group_interval, group)
    return Dispatched(notifications, unsettled)


def _shown(
    config: AlertmanagerConfig,
    alerts: Sequence[Alert],
    instant: Instant,
    sources: Sequence[Alert],
    resolutions: Instant | None = None,
    lagging: bool = False,
) -> tuple[tuple[Alert, ...], tuple[Alert, ...]]:
    """(firing, resolved) of ``alerts`` a flush at ``instant`` shows: the ones not inhibited then.

    ``resolutions``: where the flush falls among the resolutions (``instant`` unless told);
    ``lagging``: every resolution comes its alert's ``lag`` later.
    """
    settled = resolutions or instant
    shown = [a for a in alerts if not inhibited(a, instant, config.inhibit_rules, sources, settled, lagging)]
    firing = tuple(a for a in shown if not a.resolved(settled, lagging))
    return firing, tuple(a for a in shown if a.resolved(settled, lagging))


def _flush(
    config: AlertmanagerConfig,
    group: _Group,
    at: float,
    instant: Instant,
    log: dict[tuple[str, Labels, str, int], _LogEntry],
    sources: Sequence[Alert],
) -> tuple[list[Notification], list[Notification]]:
    """(sent, unsettled) at a flush of ``group``: see ``Dispatched``."""
    alerts = sorted(group.alerts.values(), key=lambda a: a.labels)
    shown = _shown(config, alerts, instant, sources)
    others: list[tuple[tuple[Alert, ...], tuple[Alert, ...]]] = []
    if any(_ms(a.ends_at) == instant[0] for a in (*alerts, *sources) if a.ends_at is not None):
        for settled in ((instant[0], -1), (instant[0], _LATE)):
            other = _shown(config, alerts, instant, sources, settled)
            if other != shown and other not in others:
                others.append(other)
    if any(a.resolves_within_lag(instant) for a in (*alerts, *sources)):
        other = _shown(config, alerts, instant, sources, lagging=True)
        if other != shown and other not in others:
            others.append(other)
    racy = bool(others)
    firing, resolved = shown
    seen = _Seen.of(shown)
    # the other settlements that would show a firing alert this one does not
    more = [(other, _Seen.of(other)) for other in others if set(other[0]) - set(firing)]
    route = group.route
    out: list[Notification] = []
    unsettled: list[Notification] = []
    for index, integration in enumerate(config.receivers[route.receiver]):
        key = (route.path, group.labels, route.receiver, index)
        entry = log.get(key)
        for (other_firing, other_resolved), other_seen in more:
            if other_seen.updates(entry, integration.send_resolved, route, at):
                sent_resolved = other_resolved if integration.send_resolved else ()
                note = Notification(
                    at, route.receiver, integration.kind, route.path, group.labels, other_firing, sent_resolved, True
                )
                unsettled.append(note)
        if not (firing or resolved) or not seen.updates(entry, integration.send_resolved, route, at):
            continue
        sent_resolved = resolved if integration.send_resolved else ()
        log[key] = _LogEntry(seen.firing, seen.resolved, at)
        if not firing and not sent_resolved:
            continue
        out.append(
            Notification(at, route.receiver, integration.kind, route.path, group.labels, firing, sent_resolved, racy)
        )
    return out, unsettled


@dataclass(frozen=True)
class _Seen:
    """The labels a flush shows firing and resolved."""

    firing: frozenset[Labels]
    resolved: frozenset[Labels]

    @classmethod
    def of(cls, shown: tuple[tuple[Alert, ...], tuple[Alert, ...]]) -> _Seen:
        return cls(frozenset(a.labels for a in shown[0]), frozenset(a.labels for a in shown[1]))

    def updates(self, entry: _LogEntry | None, send_resolved: bool, route: Route, at: float) -> bool:
        """Alertmanager's ``DedupStage.needsUpdate`` for one integration, ``entry`` its last notification."""
        if entry is None:
            return bool(self.firing)
        if not self.firing <= entry.firing:
            return True
        if not self.firing:
            return bool(entry.firing)
        if send_resolved and not self.resolved <= entry.resolved:
            return True
        return entry.at < at - route.repeat_interval
