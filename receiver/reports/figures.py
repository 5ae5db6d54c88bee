"""The alert-quality report: the repository's rows turned into figures per group, per priority, per local
day and hour of the week, with shares and rates.

``read_report`` asks the repository (``receiver.store.reports.ReportReads``) for the sections it needs,
with the window cut along local time (``working_time``); ``assemble`` is pure arithmetic on the rows.

Incidents ([Q2]) are not recorded yet: every ``GroupFigures`` carries ``incidents = None`` so that the
figure has its place in the API, the console and the CLI; once incidents exist, the repository counts
them per group like alerts (opened in the window) and ``assemble`` fills them in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from receiver.config.routing import Priority, RoutingPolicy
from receiver.reports.parameters import ReportRequest
from receiver.reports.percentiles import Scope, Spread, histograms, spreads
from receiver.reports.working_time import Kind, Segment, WorkingTime
from receiver.store.reports import (
    AckState,
    AlertCount,
    AlertRows,
    FlappingAlert,
    FlappingRows,
    GroupBy,
    Metric,
    NoisyAlert,
    PageCount,
    ReportQuery,
    ReportReads,
    ReportSnapshot,
    Section,
)

SUMMARY = frozenset({Section.ALERTS, Section.PAGES})
EVERYTHING = frozenset(Section)
PRIORITY_ORDER = tuple(p.value for p in Priority)
_STATE_FIELD = {
    AckState.ACKNOWLEDGED: "acknowledged",
    AckState.RESOLVED_UNACKNOWLEDGED: "resolved_unacknowledged",
    AckState.FIRING_UNACKNOWLEDGED: "firing_unacknowledged",
}


@dataclass(frozen=True)
class AlertFigures:
    alerts: int = 0  # first seen in the window
    acknowledged: int = 0  # acknowledged before they resolved (or still firing)
    resolved_unacknowledged: int = 0  # resolved with nobody acknowledging first: a noise signal
    firing_unacknowledged: int = 0  # still firing, nobody acknowledged yet
    escalations: int = 0
    deadlines_missed: int = 0  # escalated at least once: not acknowledged within the priority's ack deadline
    refired: int = 0  # fired again after resolving, within the window
    time_to_ack: Spread = field(default_factory=Spread)
    time_to_resolve: Spread = field(default_factory=Spread)

    def plus(self, count: AlertCount) -> AlertFigures:
        state = _STATE_FIELD[count.state]
        return replace(
            self,
            alerts=self.alerts + count.alerts,
            escalations=self.escalations + count.escalations,
            deadlines_missed=self.deadlines_missed + count.deadlines_missed,
            **{state: getattr(self, state) + count.alerts},
        )


@dataclass(frozen=True)
class HoursSplit:
    """Pages by when they came, in the report's local time."""

    working: int = 0
    out_of_hours: int = 0  # a working day, outside working hours
    weekend: int = 0  # a day that is not a working day

    @property
    def total(self) -> int:
        return self.working + self.out_of_hours + self.weekend

    def plus(self, kind: Kind, pages: int) -> HoursSplit:
        return replace(self, **{kind.value: getattr(self, kind.value) + pages})


@dataclass(frozen=True)
class GroupFigures:
    name: str
    alerts: AlertFigures
    pages: HoursSplit = field(default_factory=HoursSplit)
    page_share: float | None = None  # of all pages in the window; None when there were none
    incidents: int | None = None  # [Q2]: not recorded yet


@dataclass(frozen=True)
class Deadline:
    priority: str
    ack_deadline: float | None  # seconds, from the routing policy; None: never escalated
    alerts: int
    deadlines_missed: int
    escalations: int


@dataclass(frozen=True)
class DayPages:
    day: date  # local
    pages: HoursSplit


@dataclass(frozen=True)
class NoisyShare:
    alertname: str
    service: str
    pages: int
    share: float  # of all pages in the window


@dataclass(frozen=True)
class Flapping:
    alert: FlappingAlert
    cycles_per_day: float


@dataclass(frozen=True)
class Report:
    request: ReportRequest
    paging_channels: tuple[str, ...]
    sections: frozenset[Section]
    total: GroupFigures
    groups: tuple[GroupFigures, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    days: tuple[DayPages, ...] = ()
    week: tuple[tuple[int, ...], ...] = ()  # pages by local weekday (Monday first) and hour
    noisiest: tuple[NoisyShare, ...] = ()
    all_pages: int = 0
    flapping: tuple[Flapping, ...] = ()
    flapping_alerts: int = 0
    fired_alerts: int = 0  # distinct alerts (fingerprints) that started firing
    cycles: int = 0  # their fire/resolve cycles: alerts first seen plus re-fires

    @property
    def cycles_per_alert_per_day(self) -> float | None:
        """Fire/resolve cycles per alert (fingerprint) per day, over every alert that fired."""
        if not self.fired_alerts:
            return None
        return self.cycles / self.fired_alerts / self.request.days


def read_report(
    reports: ReportReads, request: ReportRequest, policy: RoutingPolicy, sections: frozenset[Section] = SUMMARY
) -> Report:
    segments: tuple[Segment, ...] = ()
    if Section.PAGES in sections:
        working = WorkingTime.of(request.time_zone, request.working_hours, request.working_days)
        segments = working.segments(request.since, request.until)
    query = ReportQuery(
        since=request.since,
        until=request.until,
        group_by=request.group_by,
        paging_channels=policy.paging_channels,
        segments=tuple((s.start, s.end) for s in segments),
    )
    with reports.snapshot() as snapshot:
        groups: dict[str, AlertFigures] = {}
        total, by_priority = AlertFigures(), dict[str, AlertFigures]()
        pages: tuple[PageCount, ...] = ()
        if Section.ALERTS in sections:
            groups, total, by_priority, pages = _alert_figures(snapshot, query, pages=Section.PAGES in sections)
        elif Section.PAGES in sections:
            pages = snapshot.pages(query)
        noisiest = snapshot.noisiest(query) if Section.NOISIEST in sections else ()
        flapping = snapshot.flapping(query) if Section.FLAPPING in sections else FlappingRows((), 0, 0)
    return assemble(request, policy, sections, segments, groups, total, by_priority, pages, noisiest, flapping)


def _alert_figures(
    snapshot: ReportSnapshot, query: ReportQuery, *, pages: bool
) -> tuple[dict[str, AlertFigures], AlertFigures, dict[str, AlertFigures], tuple[PageCount, ...]]:
    """Per group, in total and per priority (and the pages, read in the same pass). Groups by channel
    overlap: the total and the priorities then come from a read of every alert once."""
    rows = snapshot.alerts(query, pages=pages)
    overlapping = query.group_by is GroupBy.CHANNEL
    everyone = snapshot.alerts(query, overall=True) if overlapping else rows
    durations = spreads(histograms(rows.durations, overall=not overlapping), lambda t: snapshot.ranked(query, t))
    if overlapping:
        overall = spreads(
            histograms(everyone.durations, overall=False), lambda t: snapshot.ranked(query, t, overall=True)
        )
        durations.update({(metric, None): spread for (metric, _), spread in overall.items()})
    groups = _counted(rows, lambda c: c.group)
    by_priority = _counted(everyone, lambda c: c.priority)
    total = AlertFigures()
    for count in everyone.counts:
        total = total.plus(count)
    for name in set(groups) | set(rows.refired):
        groups[name] = _timed(groups.get(name, AlertFigures()), durations, name, rows.refired.get(name, 0))
    return groups, _timed(total, durations, None, sum(everyone.refired.values())), by_priority, rows.pages


def _counted(rows: AlertRows, key: Callable[[AlertCount], str]) -> dict[str, AlertFigures]:
    out: dict[str, AlertFigures] = {}
    for count in rows.counts:
        name = key(count)
        out[name] = out.get(name, AlertFigures()).plus(count)
    return out


def _timed(figures: AlertFigures, durations: Mapping[Scope, Spread], scope: str | None, refired: int) -> AlertFigures:
    return replace(
        figures,
        refired=refired,
        time_to_ack=durations.get((Metric.TIME_TO_ACK, scope), Spread()),
        time_to_resolve=durations.get((Metric.TIME_TO_RESOLVE, scope), Spread()),
    )


def assemble(
    request: ReportRequest,
    policy: RoutingPolicy,
    sections: frozenset[Section],
    segments: Sequence[Segment],
    alert_groups: Mapping[str, AlertFigures],
    total: AlertFigures,
    by_priority: Mapping[str, AlertFigures],
    pages: Sequence[PageCount],
    noisiest: Sequence[NoisyAlert],
    flapping: FlappingRows,
) -> Report:
    split: dict[str, HoursSplit] = {}
    by_day: dict[date, HoursSplit] = {s.day: HoursSplit() for s in segments}
    week = [[0] * 24 for _ in range(7)]
    for count in pages:
        segment = segments[count.segment]
        split[count.group] = split.get(count.group, HoursSplit()).plus(segment.kind, count.pages)
        by_day[segment.day] = by_day[segment.day].plus(segment.kind, count.pages)
        week[segment.weekday - 1][segment.hour] += count.pages
    all_pages = HoursSplit()
    for day in by_day.values():
        for kind in Kind:
            all_pages = all_pages.plus(kind, getattr(day, kind.value))

    def share(pages: int) -> float | None:
        return pages / all_pages.total if all_pages.total else None

    groups = [
        GroupFigures(name, alert_groups.get(name, AlertFigures()), split.get(name, HoursSplit()))
        for name in set(alert_groups) | set(split)
    ]
    groups = [replace(g, page_share=share(g.pages.total)) for g in groups]
    if request.group_by is GroupBy.PRIORITY:
        groups.sort(key=lambda g: (_priority_rank(g.name), g.name))
    else:
        groups.sort(key=lambda g: (-g.pages.total, -g.alerts.alerts, g.name))
    deadlines = tuple(
        Deadline(
            p.value,
            policy.policy(p).ack_deadline,
            by_priority.get(p.value, AlertFigures()).alerts,
            by_priority.get(p.value, AlertFigures()).deadlines_missed,
            by_priority.get(p.value, AlertFigures()).escalations,
        )
        for p in Priority
    )
    noisy_pages = sum(n.pages for n in noisiest)
    ranked_noisy = sorted(noisiest, key=lambda n: (-n.pages, n.alertname, n.service))[: request.top]
    flapping_first = sorted(flapping.flapping, key=lambda f: (-f.cycles, f.alertname, f.service, f.fingerprint))
    return Report(
        request=request,
        paging_channels=policy.paging_channels,
        sections=sections,
        total=GroupFigures("all", total, all_pages, share(all_pages.total)),
        groups=tuple(groups),
        deadlines=deadlines if Section.ALERTS in sections else (),
        days=tuple(DayPages(day, by_day[day]) for day in sorted(by_day)),
        week=tuple(tuple(hours) for hours in week) if Section.PAGES in sections else (),
        noisiest=tuple(NoisyShare(n.alertname, n.service, n.pages, n.pages / noisy_pages) for n in ranked_noisy),
        all_pages=noisy_pages,
        flapping=tuple(Flapping(f, f.cycles / request.days) for f in flapping_first[: request.top]),
        flapping_alerts=len(flapping.flapping),
        fired_alerts=flapping.fired,
        cycles=flapping.cycles,
    )


def _priority_rank(name: str) -> int:
    return PRIORITY_ORDER.index(name) if name in PRIORITY_ORDER else len(PRIORITY_ORDER)
