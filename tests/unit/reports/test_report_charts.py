"""The Reports page's chart shapes: axes, stacking, the week grid, proportions."""

from __future__ import annotations

from datetime import date

import pytest

from receiver.config.routing import RoutingPolicy
from receiver.reports.figures import EVERYTHING, AlertFigures, DayPages, GroupFigures, HoursSplit, Report
from receiver.reports.parameters import ReportRequest
from receiver.reports.percentiles import Spread
from receiver.reports.working_time import Kind
from receiver.store.reports import GroupBy
from receiver.web import report_charts
from receiver.web.report_charts import COLOURS, duration_ceiling, duration_label, nice_ceiling
from tests.alert_quality import SINCE, UNTIL


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 2), (1, 2), (3, 4), (7, 8), (10, 10), (11, 20), (24, 40), (251, 400), (1320, 2000)]
)
def test_an_axis_ends_at_a_round_number_at_or_above_the_largest_value(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == ceiling


@pytest.mark.parametrize(
    ("seconds", "axis"),
    [(0, 60), (59, 60), (61, 120), (1320, 1800), (5400, 7200), (3 * 86400, 7 * 86400), (8 * 86400, 14 * 86400)],
)
def test_a_duration_axis_ends_at_a_round_duration(seconds: float, axis: float) -> None:
    assert duration_ceiling(seconds) == axis


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(None, "-"), (45, "45s"), (180, "3m"), (90, "1.5m"), (5400, "1.5h"), (36000, "10h"), (2.5 * 86400, "2.5d")],
)
def test_durations_get_one_short_unit(seconds: float | None, label: str) -> None:
    assert duration_label(seconds) == label


def report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "request": ReportRequest(SINCE, UNTIL, GroupBy.PRIORITY),
        "paging_channels": RoutingPolicy().paging_channels,
        "sections": EVERYTHING,
        "total": GroupFigures("all", AlertFigures()),
        **changes,
    }
    return Report(**fields)  # type: ignore[arg-type]


def test_pages_per_day_stack_working_hours_under_out_of_hours_under_weekend_in_proportion() -> None:
    days = (DayPages(date(2026, 3, 2), HoursSplit(2, 1, 0)), DayPages(date(2026, 3, 7), HoursSplit(0, 0, 4)))
    chart = report_charts.pages_per_day(report(days=days))
    monday = [r for r in chart.rects if r.title.startswith("2026-03-02")]
    assert [r.fill for r in monday] == [COLOURS[Kind.WORKING], COLOURS[Kind.OUT_OF_HOURS]]
    assert monday[0].height == pytest.approx(2 * monday[1].height)
    assert monday[1].y + monday[1].height == pytest.approx(monday[0].y)  # stacked on top
    [saturday] = [r for r in chart.rects if r.title.startswith("2026-03-07")]
    assert saturday.height == pytest.approx(2 * monday[0].height)  # 4 pages against 2
    assert [label.text for label in chart.labels if label.anchor == "end"] == ["0", "2", "4"]  # the axis


def test_the_week_grid_has_a_cell_per_hour_and_outlines_working_hours() -> None:
    week = tuple(tuple(1 if (day, hour) == (6, 22) else 0 for hour in range(24)) for day in range(7))
    chart = report_charts.week(report(week=week))
    assert len(chart.rects) == 7 * 24
    outlined = [r for r in chart.rects if r.stroke != "none"]
    assert len(outlined) == 5 * 9  # Monday to Friday, 09:00 to 18:00
    [busy] = [r for r in chart.rects if r.title.endswith(": 1 page(s)")]
    assert busy.title == "Sun 22:00-22:59: 1 page(s)"


def test_fates_split_each_groups_bar_by_what_became_of_its_alerts() -> None:
    groups = (GroupFigures("high", AlertFigures(alerts=4, acknowledged=1, resolved_unacknowledged=3)),)
    chart = report_charts.fates(report(groups=groups))
    acked, unacked = chart.rects
    assert unacked.width == pytest.approx(3 * acked.width)
    assert unacked.x == pytest.approx(acked.x + acked.width)
    assert "3 of 4 resolved, nobody acknowledged (75 %)" in unacked.title


def test_durations_draw_p90_under_p50_on_one_axis() -> None:
    figures = AlertFigures(
        alerts=2, time_to_ack=Spread(2, 60.0, 300.0, 300.0), time_to_resolve=Spread(1, 600.0, 600.0, 600.0)
    )
    chart = report_charts.durations(report(groups=(GroupFigures("critical", figures),)))
    p90, p50, _, r50 = chart.rects
    assert p90.width == pytest.approx(5 * p50.width)
    assert r50.width == pytest.approx(2 * p90.width)
    assert "ack p50 1m · p90 5m" in [label.text for label in chart.labels]
