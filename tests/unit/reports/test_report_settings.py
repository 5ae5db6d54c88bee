"""The reports' settings (time zone, working hours and days) and the routing policy's paging channels."""

from __future__ import annotations

import pytest

from monitoring.settings import ConfigError
from receiver.config.routing import PolicyInvalid, RoutingPolicy
from receiver.config.settings import ReceiverConfig, ReportSettings, WorkingHours


def test_the_defaults_are_seoul_nine_to_six_monday_to_friday() -> None:
    assert ReceiverConfig.from_environ({}).reports == ReportSettings(
        "Asia/Seoul", WorkingHours(540, 1080), frozenset({1, 2, 3, 4, 5})
    )


def test_the_settings_come_from_the_environment() -> None:
    env = {
        "RECEIVER_REPORT_TIMEZONE": "Europe/London",
        "RECEIVER_REPORT_WORKING_HOURS": "08:30-17:00",
        "RECEIVER_REPORT_WORKING_DAYS": "mon,tue,thu",
    }
    reports = ReceiverConfig.from_environ(env).reports
    assert (reports.time_zone, str(reports.working_hours), reports.working_days) == (
        "Europe/London",
        "08:30-17:00",
        frozenset({1, 2, 4}),
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RECEIVER_REPORT_TIMEZONE", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("RECEIVER_REPORT_WORKING_HOURS", "25:00-26:00", "expected working hours as HH:MM-HH:MM"),
        ("RECEIVER_REPORT_WORKING_HOURS", "17:00-09:00", "the start must come before the end"),
        ("RECEIVER_REPORT_WORKING_DAYS", "mon-funday", "expected weekdays such as mon-fri"),
    ],
)
def test_a_bad_setting_stops_the_receiver_naming_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=variable) as refused:
        ReceiverConfig.from_environ({variable: value})
    assert expected in str(refused.value)


def test_paging_channels_default_to_pagerduty_and_sms_and_the_policy_can_name_others() -> None:
    assert RoutingPolicy().paging_channels == ("pagerduty", "sms")
    assert RoutingPolicy.from_mapping({"paging_channels": ["pagerduty", "webhook"]}).paging_channels == (
        "pagerduty",
        "webhook",
    )


@pytest.mark.parametrize(
    ("channels", "reason"),
    [
        (["email_digest"], "email_digest batches notifications; it cannot page"),
        (["pager"], "expected a list of channels"),
    ],
)
def test_a_paging_channel_that_cannot_page_is_refused(channels: list[str], reason: str) -> None:
    with pytest.raises(PolicyInvalid, match=reason) as refused:
        RoutingPolicy.from_mapping({"paging_channels": channels})
    assert refused.value.at == ("paging_channels",)
