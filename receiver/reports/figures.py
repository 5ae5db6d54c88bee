"""The alert-quality report: the repository's rows turned into figures per group, per priority, per local
day and hour of the week, with shares and rates.

``read_report`` asks the repository (``receiver.store.reports.ReportReads``) for the sections it needs,
with the window cut along local time (``working_time``); ``assemble`` is pure arithmetic on the rows.

Incidents are counted per group with the alerts (opened in the window, merged ones left out:
``receiver.store.reports``); a report that does not read the alerts has ``incidents = None``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from receiver.config.routing import Priority, RoutingPolicy
from receiver.reports.parameters import ReportRequest
from receiver.reports.percentiles import Scope, Spread, histograms, spreads
from receiver.reports.working_time import Kind, Segment, WorkingTime
from receiver.store.reports import (
    AckState,
    AlertCount,
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

    @classmethod
    def of(cls, pages: Mapping[Kind, int]) -> HoursSplit:
        return cls(**{kind.value: pages.get(kind, 0) for kind in Kind})


@dataclass(frozen=True)
class GroupFigures:
    name: str
    alerts: AlertFigures
    pages: HoursSplit = field(default_factory=HoursSplit)
    page_share: float | None = None  # of all pages in the window; None when there were none
    incidents: int | None = None  # opened in the window, not merged; None when the alerts were not read


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
        incidents: Incidents | None = None
        if Section.ALERTS in sections:
            groups, total, by_priority, pages, incidents = _alert_figures(
                snapshot, query, pages=Section.PAGES in sections
            )
        elif Section.PAGES in sections:
            pages = snapshot.pages(query)
        noisiest = snapshot.noisiest(query) if Section.NOISIEST in sections else ()
        flapping = snapshot.flapping(query) if Section.FLAPPING in sections else FlappingRows((), 0, 0)
    return assemble(
        request, policy, sections, segments, groups, total, by_priority, pages, noisiest, flapping, incidents
    )


@dataclass(frozen=True)
class Incidents:
    """Incidents opened in the window: per group, and in total (by channel, not the groups' sum)."""

    groups: Mapping[str, int]
    total: int


def _alert_figures(
    snapshot: ReportSnapshot, query: ReportQuery, *, pages: bool
) -> tuple[dict[str, AlertFigures], AlertFigures, dict[str, AlertFigures], tuple[PageCount, ...], Incidents]:
    """Per group, in total and per priority (and the pages and incidents, read in the same pass). Groups by
    channel overlap: the total and the priorities then come from a read of every alert once, by priority."""
    rows = snapshot.alerts(query, pages=pages)
    overlapping = query.group_by is GroupBy.CHANNEL
    by_priority = replace(query, group_by=GroupBy.PRIORITY)
    everyone = snapshot.alerts(by_priority) if overlapping else rows
    durations = spreads(histograms(rows.durations, overall=not overlapping), lambda t: snapshot.ranked(query, t))
    if overlapping:  # all alerts' spreads: the priorities partition them
        bins = {scope: b for scope, b in histograms(everyone.durations, overall=True).items() if scope[1] is None}
        durations.update(spreads(bins, lambda t: snapshot.ranked(by_priority, t)))
    groups = _counted(rows.counts)
    priorities = _counted(everyone.priorities)
    total = AlertFigures()
    for count in everyone.priorities:
        total = total.plus(count)
    for name in set(groups) | set(rows.refired):
        groups[name] = _timed(groups.get(name, AlertFigures()), durations, name, rows.refired.get(name, 0))
    incidents = Incidents(rows.incidents, sum(everyone.incidents.values()))
    return groups, _timed(total, durations, None, sum(everyone.refired.values())), priorities, rows.pages, incidents


def _counted(counts: Sequence[AlertCount]) -> dict[str, AlertFigures]:
    out: dict[str, AlertFigures] = {}
    for count in counts:
        out[count.group] = out.get(count.group, AlertFigures()).plus(count)
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
    incidents: Incidents | None = None,  # None: not read (the figure stays None)
) -> Report:
    # Summed as plain counts first: a window's pages come as a row per group and segment (thousands).
    per_group: dict[str, Counter[Kind]] = {}
    per_day: dict[date, Counter[Kind]] = {s.day: Counter() for s in segments}
    week = [[0] * 24 for _ in range(7)]
    for count in pages:
        segment = segments[count.segment]
        per_group.setdefault(count.group, Counter())[segment.kind] += count.pages
        per_day[segment.day][segment.kind] += count.pages
        week[segment.weekday - 1][segment.hour] += count.pages
    split = {group: HoursSplit.of(kinds) for group, kinds in per_group.items()}
    by_day = {day: HoursSplit.of(kinds) for day, kinds in per_day.items()}
    all_pages = HoursSplit()
    for day in by_day.values():
        for kind in Kind:
            all_pages = all_pages.plus(kind, getattr(day, kind.value))

    def share(pages: int) -> float | None:
        return pages / all_pages.total if all_pages.total else None

    opened = incidents.groups if incidents is not None else {}
    groups = [
        GroupFigures(
            name,
            alert_groups.get(name, AlertFigures()),
            split.get(name, HoursSplit()),
            incidents=None if incidents is None else opened.get(name, 0),
        )
        for name in set(alert_groups) | set(split) | set(opened)
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
        total=GroupFigures(
            "all", total, all_pages, share(all_pages.total), None if incidents is None else incidents.total
        ),
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
