"""Report parameters: every form of window, and every bad value refused naming the parameter."""

from __future__ import annotations

import pytest

from receiver.config.settings import ReportSettings, WorkingHours
from receiver.reports.parameters import ParameterInvalid, parse_request
from receiver.store.reports import GroupBy
from tests.alert_quality import kst

NOW = kst(9, "12:34:56") + 0.75
SETTINGS = ReportSettings()


def test_without_parameters_the_window_is_the_last_seven_days_in_whole_seconds_grouped_by_priority() -> None:
    r = parse_request({}, SETTINGS, NOW)
    assert (r.since, r.until) == (kst(2, "12:34:56"), kst(9, "12:34:56"))
    assert (r.group_by, r.time_zone, r.working_hours, r.top) == (GroupBy.PRIORITY, "Asia/Seoul", WorkingHours(), 10)
    assert r.working_days == frozenset(range(1, 6))
    assert r.days == 7


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("36h", kst(8, "00:34:56")),
        ("2026-03-02", kst(2, "00:00")),  # a date: its Seoul midnight
        ("2026-03-02T09:30", kst(2, "09:30")),  # a local time
        ("2026-03-01T15:00:00Z", kst(2, "00:00")),  # an RFC 3339 time with its offset
        ("2026-03-02T00:00:00+09:00", kst(2, "00:00")),
    ],
)
def test_since_is_a_duration_back_a_local_date_or_time_or_an_rfc3339_time(since: str, expected: float) -> None:
    assert parse_request({"since": since}, SETTINGS, NOW).since == expected


def test_a_date_is_midnight_in_the_time_zone_asked_for() -> None:
    r = parse_request({"since": "2026-03-02", "until": "2026-03-03", "tz": "UTC"}, SETTINGS, NOW)
    assert (r.since, r.until) == (kst(2, "09:00"), kst(3, "09:00"))


def test_the_configured_zone_and_hours_are_the_defaults_and_parameters_override_them() -> None:
    configured = ReportSettings("Europe/Berlin", WorkingHours(8 * 60, 16 * 60), frozenset({1, 2, 3, 4}))
    r = parse_request({}, configured, NOW)
    assert (r.time_zone, str(r.working_hours), r.working_days) == (
        "Europe/Berlin",
        "08:00-16:00",
        frozenset({1, 2, 3, 4}),
    )
    r = parse_request({"tz": "UTC", "working_hours": "10:00-19:30", "working_days": "sun-thu"}, configured, NOW)
    assert (r.time_zone, str(r.working_hours)) == ("UTC", "10:00-19:30")
    assert r.working_days == frozenset({7, 1, 2, 3, 4})  # a range over the week's end


@pytest.mark.parametrize(
    ("args", "parameter", "message"),
    [
        ({"since": "yesterday"}, "since", "since: expected a duration back from now"),
        ({"since": "2026-03-09", "until": "2026-03-02"}, "since", "since: the window is empty"),
        ({"since": "2026-03-02", "until": "2026-03-02"}, "since", "since: the window is empty"),
        ({"since": "400d"}, "since", "since: the window is longer than 366 days"),
        ({"until": "soon"}, "until", "until: expected"),
        ({"group_by": "team"}, "group_by", "group_by: unknown group 'team'; expected one of priority, service"),
        ({"tz": "Asia/Busan"}, "tz", "tz: unknown time zone 'Asia/Busan'"),
        ({"tz": "../../etc/passwd"}, "tz", "tz: unknown time zone"),
        ({"working_hours": "18:00-09:00"}, "working_hours", "working_hours: expected working hours"),
        ({"working_hours": "9-18"}, "working_hours", "working_hours: expected working hours as HH:MM-HH:MM"),
        ({"working_days": "weekdays"}, "working_days", "working_days: expected weekdays"),
        ({"top": "0"}, "top", "top: expected an integer from 1 to 100"),
        ({"top": "many"}, "top", "top: expected an integer"),
        ({"window": "7d"}, "unknown", "window: unknown parameter; expected since, until"),
    ],
)
def test_a_bad_parameter_is_refused_with_a_message_naming_it(
    args: dict[str, str], parameter: str, message: str
) -> None:
    with pytest.raises(ParameterInvalid) as refused:
        parse_request(args, SETTINGS, NOW)
    assert refused.value.parameter == parameter
    assert str(refused.value).startswith(message), str(refused.value)
