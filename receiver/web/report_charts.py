"""The Reports page's charts as shapes: rectangles, lines and labels in SVG user units.

The template draws them as inline SVG (``console/chart.html``): no script, no external file, so
the console's Content-Security-Policy (``default-src 'none'``) holds, and every label goes through
Jinja's autoescaping like the rest of the page. Each shape carries a ``title``: the browser shows it
on hover, and it is the chart's text for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from receiver.config.settings import WEEKDAYS
from receiver.reports.figures import GroupFigures, Report
from receiver.reports.working_time import Kind

COLOURS = {Kind.WORKING: "#3b73b9", Kind.OUT_OF_HOURS: "#d46b08", Kind.WEEKEND: "#b3261e"}
KIND_NAMES = {Kind.WORKING: "working hours", Kind.OUT_OF_HOURS: "out of hours", Kind.WEEKEND: "weekend"}
FATES = (
    ("acknowledged", "acknowledged", "#1e7b34"),
    ("resolved_unacknowledged", "resolved, nobody acknowledged", "#d46b08"),
    ("firing_unacknowledged", "firing, unacknowledged", "#b3261e"),
)
WIDTH = 960
LEFT = 200  # room for the labels of horizontal bars
LABEL = 27  # characters of a bar's label at most
# Axis ends for durations, in seconds: their halves read well too (30s, 5m, 30m, 1h, 3h, 12h, ...).
DURATION_AXES = (60, 120, 300, 600, 1200, 1800, 3600, 7200, 4 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
FONT = 12


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str = ""
    stroke: str = "none"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = "#c9ced8"


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"  # start | middle | end
    fill: str = "#1d2330"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    width: float
    height: float
    rects: tuple[Rect, ...] = ()
    lines: tuple[Line, ...] = ()
    labels: tuple[Label, ...] = ()
    legend: tuple[tuple[str, str], ...] = ()  # (colour, name)
    empty: bool = False  # nothing to draw: the template says so instead


@dataclass(frozen=True)
class Charts:
    pages_per_day: Chart
    week: Chart
    fates: Chart
    durations: Chart
    noisiest: Chart


def nice_ceiling(value: float) -> float:
    """The smallest of 2, 4, 6, 8 times 10^n at or above ``value``: an axis maximum whose half is round too."""
    if value <= 2:
        return 2.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if step * power >= value and (step * power) % 2 == 0:
            return float(step * power)
    return float(10 * power)


def duration_ceiling(seconds: float) -> float:
    """The smallest of DURATION_AXES at or above ``seconds`` (whole weeks beyond)."""
    for axis in DURATION_AXES:
        if axis >= seconds:
            return float(axis)
    return float(math.ceil(seconds / (7 * 86400)) * 7 * 86400)


def duration_label(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3.5h``, ``2.1d``: one short unit for an axis or a bar."""
    if seconds is None:
        return "-"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f}{unit}" if value >= 10 or value == int(value) else f"{value:.1f}{unit}"
    return f"{seconds:.0f}s"


def pages_per_day(report: Report) -> Chart:
    """Stacked columns per local day: working hours at the bottom, then out of hours, then weekend."""
    height, top, bottom = 240.0, 16.0, 36.0
    days = report.days
    most = max((d.pages.total for d in days), default=0)
    if not days or most == 0:
        return Chart("pages-per-day", "Pages per day", WIDTH, 60, empty=True)
    axis = nice_ceiling(most)
    plot = height - top - bottom
    slot = (WIDTH - 50) / len(days)
    bar = max(1.0, slot * 0.7)
    rects, labels, lines = [], [], []
    for tick in (0.0, axis / 2, axis):
        y = top + plot - plot * tick / axis
        lines.append(Line(44, y, WIDTH, y))
        labels.append(Label(40, y + 4, f"{tick:g}", "end"))
    every = max(1, math.ceil(len(days) / 15))
    for index, day in enumerate(days):
        x = 50 + index * slot + (slot - bar) / 2
        y = top + plot
        for kind in Kind:
            count = getattr(day.pages, kind.value)
            if count:
                h = plot * count / axis
                y -= h
                title = f"{day.day.isoformat()}: {count} page(s) {KIND_NAMES[kind]}"
                rects.append(Rect(x, y, bar, h, COLOURS[kind], title))
        if index % every == 0:
            labels.append(Label(x + bar / 2, height - bottom + 16, day.day.strftime("%m-%d"), "middle"))
    legend = tuple((COLOURS[k], KIND_NAMES[k]) for k in Kind)
    return Chart("pages-per-day", "Pages per day", WIDTH, height, tuple(rects), tuple(lines), tuple(labels), legend)


def week(report: Report) -> Chart:
    """Pages by local weekday and hour: 7 rows of 24 hours, darker with more pages; working hours outlined."""
    cell, left, top = 34.0, 44.0, 22.0
    most = max((n for hours in report.week for n in hours), default=0)
    if most == 0:
        return Chart("pages-by-hour", "Pages by hour of the week", WIDTH, 60, empty=True)
    hours = report.request.working_hours
    rects, labels = [], []
    for hour in range(24):
        labels.append(Label(left + hour * cell + cell / 2, top - 6, f"{hour:02d}", "middle"))
    for day, counts in enumerate(report.week):
        labels.append(Label(left - 6, top + day * cell + cell / 2 + 4, WEEKDAYS[day].capitalize(), "end"))
        working_day = day + 1 in report.request.working_days
        for hour, count in enumerate(counts):
            within = working_day and hours.start < (hour + 1) * 60 and hour * 60 < hours.end
            shade = 0.0 if count == 0 else 0.15 + 0.85 * count / most
            fill = f"rgba(179,38,30,{shade:.3f})" if count else "#f5f6f8"
            title = f"{WEEKDAYS[day].capitalize()} {hour:02d}:00-{hour:02d}:59: {count} page(s)"
            rects.append(
                Rect(
                    left + hour * cell,
                    top + day * cell,
                    cell - 2,
                    cell - 2,
                    fill,
                    title,
                    "#3b73b9" if within else "none",
                )
            )
            if count:
                colour = "#fff" if shade > 0.55 else "#1d2330"
                labels.append(
                    Label(
                        left + hour * cell + cell / 2 - 1, top + day * cell + cell / 2 + 3, str(count), "middle", colour
                    )
                )
    legend = (("#3b73b9", "outline: working hours"), ("rgba(179,38,30,0.9)", f"darkest: {most} pages"))
    return Chart(
        "pages-by-hour",
        "Pages by hour of the week",
        left + 24 * cell,
        top + 7 * cell + 4,
        tuple(rects),
        (),
        tuple(labels),
        legend,
    )


def _bar_rows(groups: Sequence[GroupFigures]) -> tuple[float, float]:
    """(row height, chart height) for horizontal bars, one row per group."""
    row = 26.0
    return row, 24 + row * len(groups)


def fates(report: Report) -> Chart:
    """Per group, the share of alerts acknowledged, resolved with nobody acknowledging, still firing."""
    groups = [g for g in report.groups if g.alerts.alerts]
    if not groups:
        return Chart("fates", "What became of the alerts", WIDTH, 60, empty=True)
    row, height = _bar_rows(groups)
    span = WIDTH - LEFT - 70
    rects, labels = [], []
    for index, group in enumerate(groups):
        y = 8 + index * row
        labels.append(Label(LEFT - 8, y + row / 2 + 2, _short(group.name), "end"))
        x = float(LEFT)
        for attribute, name, colour in FATES:
            count = getattr(group.alerts, attribute)
            if count:
                w = span * count / group.alerts.alerts
                title = (
                    f"{group.name}: {count} of {group.alerts.alerts} {name} ({100 * count / group.alerts.alerts:.0f} %)"
                )
                rects.append(Rect(x, y + 3, w, row - 8, colour, title))
                x += w
        alerts = group.alerts.alerts
        labels.append(Label(LEFT + span + 6, y + row / 2 + 2, f"{alerts} alert{'s' if alerts != 1 else ''}"))
    legend = tuple((colour, name) for _, name, colour in FATES)
    return Chart("fates", "What became of the alerts", WIDTH, height, tuple(rects), (), tuple(labels), legend)


def durations(report: Report) -> Chart:
    """Per group, time to acknowledge and time to resolve: a bar to p50, a lighter one on to p90."""
    groups = [g for g in report.groups if g.alerts.time_to_ack.count or g.alerts.time_to_resolve.count]
    if not groups:
        return Chart("durations", "Time to acknowledge and to resolve", WIDTH, 60, empty=True)
    longest = max((s.p90 or 0.0 for g in groups for s in (g.alerts.time_to_ack, g.alerts.time_to_resolve)), default=0.0)
    axis = duration_ceiling(longest)
    row = 34.0
    span = WIDTH - LEFT - 150
    rects, labels, lines = [], [], []
    height = 30 + row * len(groups)
    for fraction in (0.0, 0.5, 1.0):
        x = LEFT + span * fraction
        lines.append(Line(x, 4, x, height - 22))
        labels.append(Label(x, height - 8, duration_label(axis * fraction), "middle"))
    for index, group in enumerate(groups):
        y = 6 + index * row
        labels.append(Label(LEFT - 8, y + row / 2 + 2, _short(group.name), "end"))
        for offset, (name, spread, colour, light) in enumerate(
            (
                ("acknowledge", group.alerts.time_to_ack, "#3b73b9", "#a9c2e3"),
                ("resolve", group.alerts.time_to_resolve, "#1e7b34", "#a7d3b1"),
            )
        ):
            if not spread.count or spread.p50 is None or spread.p90 is None:
                continue
            top = y + 2 + offset * (row / 2 - 2)
            p50, p90 = duration_label(spread.p50), duration_label(spread.p90)
            title = f"{group.name}: time to {name} p50 {p50}, p90 {p90} ({spread.count} alerts)"
            rects.append(Rect(LEFT, top, span * spread.p90 / axis, row / 2 - 4, light, title))
            rects.append(Rect(LEFT, top, span * spread.p50 / axis, row / 2 - 4, colour, title))
            text = f"{name[:3]} p50 {p50} · p90 {p90}"
            labels.append(Label(LEFT + span + 6, top + row / 2 - 6, text))
    legend = (
        ("#3b73b9", "to acknowledge: p50"),
        ("#a9c2e3", "p90"),
        ("#1e7b34", "to resolve: p50"),
        ("#a7d3b1", "p90"),
    )
    return Chart(
        "durations",
        "Time to acknowledge and to resolve",
        WIDTH,
        height,
        tuple(rects),
        tuple(lines),
        tuple(labels),
        legend,
    )


def noisiest(report: Report) -> Chart:
    if not report.noisiest:
        return Chart("noisiest", "Noisiest alerts", WIDTH, 60, empty=True)
    row = 24.0
    height = 8 + row * len(report.noisiest)
    span = WIDTH - LEFT - 120
    most = report.noisiest[0].pages
    rects, labels = [], []
    for index, n in enumerate(report.noisiest):
        y = 4 + index * row
        name = f"{n.alertname} ({n.service})"
        labels.append(Label(LEFT - 8, y + row / 2 + 2, name if len(name) <= LABEL else name[: LABEL - 1] + "…", "end"))
        title = f"{name}: {n.pages} pages, {100 * n.share:.1f} % of all pages"
        rects.append(Rect(LEFT, y + 3, span * n.pages / most, row - 8, "#b3261e", title))
        labels.append(Label(LEFT + span * n.pages / most + 6, y + row / 2 + 2, f"{n.pages} · {100 * n.share:.1f} %"))
    return Chart("noisiest", "Noisiest alerts", WIDTH, height, tuple(rects), (), tuple(labels))


def _short(name: str) -> str:
    return name if len(name) <= LABEL else name[: LABEL - 1] + "…"


def charts(report: Report) -> Charts:
    return Charts(pages_per_day(report), week(report), fates(report), durations(report), noisiest(report))
