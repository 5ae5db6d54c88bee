"""The alert-quality report: the repository's rows turned into figures per group, per priority, per local
day and hour of the week, with shares and rates.

``read_report`` asks the repository (``receiver.store.reports.ReportReads``) for the sections it needs,
with the window cut along local time (``working_time``); ``assemble`` is pure arithmetic on the rows.

Incidents ([Q2]) are not recorded yet: every ``GroupFigures`` carries ``incidents = None`` so that the
figure has its place in the API, the console and the CLI; once incidents exist, the repository counts
them per group like alerts (opened in the window) and ``assemble`` fills them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from receiver.config.routing import Priority, RoutingPolicy
from receiver.reports.parameters import ReportRequest
from receiver.reports.working_time import Kind, Segment, WorkingTime
from receiver.store.reports import (
    AlertFigures,
    FlappingAlert,
    GroupBy,
    ReportQuery,
    ReportReads,
    ReportRows,
    Section,
)

SUMMARY = frozenset({Section.ALERTS, Section.PAGES, Section.NOTIFICATIONS})
EVERYTHING = frozenset(Section)
PRIORITY_ORDER = tuple(p.value for p in Priority)


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
    notifications: Mapping[str, int] = field(default_factory=dict)  # delivered, per channel (any channel)
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

    @property
    def cycles_per_alert_per_day(self) -> float | None:
        """Fire/resolve cycles per alert (fingerprint) per day, over every alert that fired."""
        if not self.fired_alerts:
            return None
        return (self.total.alerts.alerts + self.total.alerts.refired) / self.fired_alerts / self.request.days


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
        top=request.top,
        sections=sections,
    )
    return assemble(request, reports.report_rows(query), segments, policy, sections)


def assemble(
    request: ReportRequest,
    rows: ReportRows,
    segments: Sequence[Segment],
    policy: RoutingPolicy,
    sections: frozenset[Section],
) -> Report:
    split: dict[str, HoursSplit] = {}
    by_day: dict[date, HoursSplit] = {s.day: HoursSplit() for s in segments}
    week = [[0] * 24 for _ in range(7)]
    for count in rows.pages:
        segment = segments[count.segment]
        split[count.group] = split.get(count.group, HoursSplit()).plus(segment.kind, count.pages)
        by_day[segment.day] = by_day[segment.day].plus(segment.kind, count.pages)
        week[segment.weekday - 1][segment.hour] += count.pages
    all_pages = HoursSplit()
    for pages in split.values():
        for kind in Kind:
            all_pages = all_pages.plus(kind, getattr(pages, kind.value))
    notified: dict[str, dict[str, int]] = {}
    notified_total: dict[str, int] = {}
    for n in rows.notifications:
        notified.setdefault(n.group, {})[n.channel] = n.notifications
        notified_total[n.channel] = notified_total.get(n.channel, 0) + n.notifications

    def share(pages: int) -> float | None:
        return pages / all_pages.total if all_pages.total else None

    names = set(rows.groups) | set(split) | set(notified)
    groups = [
        GroupFigures(
            name,
            rows.groups.get(name, AlertFigures()),
            split.get(name, HoursSplit()),
            share(split.get(name, HoursSplit()).total),
            dict(sorted(notified.get(name, {}).items())),
        )
        for name in names
    ]
    if request.group_by is GroupBy.PRIORITY:
        groups.sort(key=lambda g: (_priority_rank(g.name), g.name))
    else:
        groups.sort(key=lambda g: (-g.pages.total, -g.alerts.alerts, g.name))
    deadlines = tuple(
        Deadline(
            p.value,
            policy.policy(p).ack_deadline,
            rows.priorities.get(p.value, AlertFigures()).alerts,
            rows.priorities.get(p.value, AlertFigures()).deadlines_missed,
            rows.priorities.get(p.value, AlertFigures()).escalations,
        )
        for p in Priority
    )
    return Report(
        request=request,
        paging_channels=policy.paging_channels,
        sections=sections,
        total=GroupFigures("all", rows.total, all_pages, share(all_pages.total), dict(sorted(notified_total.items()))),
        groups=tuple(groups),
        deadlines=deadlines if Section.ALERTS in sections else (),
        days=tuple(DayPages(day, by_day[day]) for day in sorted(by_day)),
        week=tuple(tuple(hours) for hours in week) if Section.PAGES in sections else (),
        noisiest=tuple(
            NoisyShare(n.alertname, n.service, n.pages, n.pages / rows.all_pages)
            for n in rows.noisiest
            if rows.all_pages
        ),
        all_pages=rows.all_pages,
        flapping=tuple(Flapping(f, f.cycles / request.days) for f in rows.flapping),
        flapping_alerts=rows.flapping_alerts,
        fired_alerts=rows.fired_alerts,
    )


def _priority_rank(name: str) -> int:
    return PRIORITY_ORDER.index(name) if name in PRIORITY_ORDER else len(PRIORITY_ORDER)
