"""Local time for the reports: segments along local hours, working hours and offset changes."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.config.settings import WorkingHours
from receiver.reports.working_time import Kind, WorkingTime

WEEKDAYS = frozenset(range(1, 6))


def at(zone: str, *fields: int, fold: int = 0) -> float:
    """Epoch seconds of a wall-clock time (year, month, day[, hour[, minute[, second]]]) in ``zone``."""
    year, month, day, hour, minute, second = (*fields, 0, 0, 0)[:6]
    return datetime(year, month, day, hour, minute, second, fold=fold).replace(tzinfo=ZoneInfo(zone)).timestamp()


def seoul() -> WorkingTime:
    return WorkingTime.of("Asia/Seoul", WorkingHours(9 * 60, 18 * 60), WEEKDAYS)


@pytest.mark.parametrize(
    ("local", "kind"),
    [
        ((2026, 3, 6, 8, 59, 59), Kind.OUT_OF_HOURS),  # Friday, a second before work
        ((2026, 3, 6, 9, 0, 0), Kind.WORKING),  # the start is in
        ((2026, 3, 6, 17, 59, 59), Kind.WORKING),
        ((2026, 3, 6, 18, 0, 0), Kind.OUT_OF_HOURS),  # the end is out
        ((2026, 3, 6, 23, 59, 59), Kind.OUT_OF_HOURS),
        ((2026, 3, 7, 0, 0, 0), Kind.WEEKEND),  # Saturday from midnight
        ((2026, 3, 8, 12, 0, 0), Kind.WEEKEND),
        ((2026, 3, 9, 0, 0, 0), Kind.OUT_OF_HOURS),  # Monday night
    ],
)
def test_an_instant_is_working_out_of_hours_or_weekend_by_seoul_wall_clock(local: tuple[int, ...], kind: Kind) -> None:
    w = seoul()
    assert w.kind_of(at("Asia/Seoul", *local)) is kind
    [segment] = [
        s
        for s in w.segments(at("Asia/Seoul", 2026, 3, 2), at("Asia/Seoul", 2026, 3, 10))
        if s.start <= at("Asia/Seoul", *local) < s.end
    ]
    assert segment.kind is kind


def test_a_seoul_week_is_168_hour_segments_that_tile_the_window() -> None:
    since, until = at("Asia/Seoul", 2026, 3, 2), at("Asia/Seoul", 2026, 3, 9)
    segments = seoul().segments(since, until)
    assert len(segments) == 168  # UTC+9: local and UTC hours coincide
    assert segments[0].start == since
    assert segments[-1].end == until
    assert all(a.end == b.start for a, b in pairwise(segments))
    assert [s.kind for s in segments[:24]].count(Kind.WORKING) == 9
    assert {s.day.isoformat() for s in segments} == {f"2026-03-0{d}" for d in range(2, 9)}


def test_the_spring_forward_day_has_23_local_hours_and_no_two_oclock() -> None:
    berlin = WorkingTime.of("Europe/Berlin", WorkingHours(9 * 60, 17 * 60), WEEKDAYS)
    day = berlin.segments(at("Europe/Berlin", 2026, 3, 29), at("Europe/Berlin", 2026, 3, 30))
    assert sum(s.end - s.start for s in day) == 23 * 3600
    assert [s.hour for s in day] == [0, 1, *range(3, 24)]


def test_the_fall_back_day_has_25_local_hours_with_two_oclock_twice() -> None:
    berlin = WorkingTime.of("Europe/Berlin", WorkingHours(9 * 60, 17 * 60), WEEKDAYS)
    day = berlin.segments(at("Europe/Berlin", 2026, 10, 25), at("Europe/Berlin", 2026, 10, 26))
    assert sum(s.end - s.start for s in day) == 25 * 3600
    assert [s.hour for s in day] == [0, 1, 2, 2, *range(3, 24)]


def test_a_half_hour_zone_and_half_hour_working_hours_cut_at_utc_hours_too() -> None:
    india = WorkingTime.of("Asia/Kolkata", WorkingHours(9 * 60 + 30, 18 * 60), WEEKDAYS)
    day = india.segments(at("Asia/Kolkata", 2026, 3, 2), at("Asia/Kolkata", 2026, 3, 3))
    assert len(day) == 48  # local hours at :00, UTC hours at :30 local
    assert all(s.start // 3600 == (s.end - 1) // 3600 for s in day)  # each inside one UTC hour
    working = [s for s in day if s.kind is Kind.WORKING]
    assert sum(s.end - s.start for s in working) == 8.5 * 3600
    assert working[0].start == at("Asia/Kolkata", 2026, 3, 2, 9, 30)


def test_working_days_other_than_monday_to_friday_make_the_other_days_weekend() -> None:
    sunday_to_thursday = WorkingTime.of("Asia/Jerusalem", WorkingHours(), frozenset({7, 1, 2, 3, 4}))
    assert sunday_to_thursday.kind_of(at("Asia/Jerusalem", 2026, 3, 8, 10)) is Kind.WORKING  # Sunday
    assert sunday_to_thursday.kind_of(at("Asia/Jerusalem", 2026, 3, 6, 10)) is Kind.WEEKEND  # Friday


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["Asia/Seoul", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    start=st.integers(min_value=1_735_689_600, max_value=1_798_761_600),  # 2025..2026
    length=st.integers(min_value=1, max_value=10 * 86400),
    probe=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_every_instant_lies_in_one_segment_that_agrees_with_its_wall_clock(
    zone: str, start: int, length: int, probe: float
) -> None:
    w = WorkingTime.of(zone, WorkingHours(8 * 60 + 45, 17 * 60 + 15), WEEKDAYS)
    segments = w.segments(start, start + length)
    assert segments[0].start == start
    assert segments[-1].end == start + length
    assert all(a.end == b.start and a.start < a.end for a, b in pairwise(segments))
    instant = start + int(probe * length)
    [segment] = [s for s in segments if s.start <= instant < s.end]
    local = w.local(instant)
    assert (segment.day, segment.hour, segment.kind) == (local.date(), local.hour, w.kind_at(local))
    assert segment.start // 3600 == (segment.end - 1) // 3600
