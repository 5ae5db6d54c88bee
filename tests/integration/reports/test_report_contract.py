"""One contract for the alert-quality reports, run on SQLite and PostgreSQL: the seeded week of
tests/alert_quality.py gives exactly the figures computed by hand there."""

from __future__ import annotations

from dataclasses import astuple, replace

import pytest

from receiver.config.routing import RoutingPolicy
from receiver.config.settings import WorkingHours
from receiver.reports.figures import EVERYTHING, AlertFigures, GroupFigures, Report, read_report
from receiver.reports.parameters import ReportRequest
from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.history import AlertFilter
from receiver.store.reports import GroupBy, Section
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests import alert_quality as expected
from tests.alert_quality import SINCE, UNTIL, Seeded, kst, observation, seed

WEEKDAYS = frozenset(range(1, 6))


def report(
    reports: SqlReports,
    group_by: GroupBy = GroupBy.PRIORITY,
    *,
    since: float = SINCE,
    until: float = UNTIL,
    tz: str = "Asia/Seoul",
    sections: frozenset[Section] = EVERYTHING,
) -> Report:
    request = ReportRequest(since, until, group_by, tz, WorkingHours(9 * 60, 18 * 60), WEEKDAYS, top=10)
    return read_report(reports, request, RoutingPolicy(), sections)


def counts(figures: GroupFigures) -> tuple[int, ...]:
    a = figures.alerts
    return (
        a.alerts,
        a.acknowledged,
        a.resolved_unacknowledged,
        a.firing_unacknowledged,
        a.escalations,
        a.deadlines_missed,
        a.refired,
    )


def by_name(r: Report) -> dict[str, GroupFigures]:
    return {g.name: g for g in r.groups}


def test_the_seeded_week_gives_the_hand_computed_counts_per_priority_and_in_total(
    reports: SqlReports, seeded: Seeded
) -> None:
    r = report(reports)
    assert counts(r.total) == expected.COUNTS["all"]
    assert [g.name for g in r.groups] == ["critical", "high", "medium", "low"]
    for group in r.groups:
        assert counts(group) == expected.COUNTS[group.name], group.name


def test_times_to_acknowledge_and_resolve_are_nearest_rank_percentiles(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports)
    assert astuple(r.total.alerts.time_to_ack) == expected.TIME_TO_ACK["all"]
    assert astuple(r.total.alerts.time_to_resolve) == expected.TIME_TO_RESOLVE["all"]
    groups = by_name(r)
    for name, spread in expected.TIME_TO_ACK.items():
        if name != "all":
            assert astuple(groups[name].alerts.time_to_ack) == spread, name
    for name, spread in expected.TIME_TO_RESOLVE.items():
        if name != "all":
            assert astuple(groups[name].alerts.time_to_resolve) == spread, name
    assert astuple(groups["low"].alerts.time_to_ack) == (0, None, None, None)


def test_pages_are_split_into_working_hours_out_of_hours_and_weekend_in_seoul(
    reports: SqlReports, seeded: Seeded
) -> None:
    r = report(reports)
    assert astuple(r.total.pages) == expected.PAGES["all"]
    groups = by_name(r)
    assert astuple(groups["critical"].pages) == expected.PAGES["critical"]
    assert astuple(groups["high"].pages) == expected.PAGES["high"]
    assert groups["critical"].page_share == pytest.approx(11 / 15)
    assert groups["medium"].pages.total == 0
    assert {d.day.isoformat(): astuple(d.pages) for d in r.days} == expected.PAGES_PER_DAY


def test_the_week_by_local_hour_places_every_page_in_its_seoul_hour(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports)
    placed = {(day + 1, hour): n for day, hours in enumerate(r.week) for hour, n in enumerate(hours) if n}
    assert placed == {
        (1, 0): 1,  # A9 Monday 00:00:10
        (1, 10): 2,  # A1
        (1, 11): 1,  # A2
        (1, 12): 1,  # A3
        (3, 14): 1,  # A6
        (3, 15): 1,  # A6 again
        (4, 18): 1,  # A11 at 18:00:00
        (5, 23): 1,  # A4 Friday 23:59:59
        (6, 0): 2,  # A4 Saturday 00:00:00 and 00:03:40
        (7, 22): 4,  # A8
    }


def test_the_noisiest_alerts_are_ranked_by_pages_with_their_share(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports)
    assert [(n.alertname, n.service, n.pages) for n in r.noisiest] == expected.NOISIEST
    assert r.all_pages == 15
    assert r.noisiest[0].share == pytest.approx(4 / 15)


def test_flapping_alerts_count_new_firings_and_re_fires_per_fingerprint(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports)
    assert [(f.alert.fingerprint, f.alert.alertname, f.alert.cycles) for f in r.flapping] == expected.FLAPPING
    assert r.flapping[0].cycles_per_day == pytest.approx(3 / 7)
    assert r.flapping_alerts == 2
    assert r.fired_alerts == expected.FIRED_FINGERPRINTS
    assert r.cycles_per_alert_per_day == pytest.approx(10 / 7 / 7)


def test_grouping_by_service_puts_a_page_with_its_alert_even_when_the_alert_is_older(
    reports: SqlReports, seeded: Seeded
) -> None:
    r = report(reports, GroupBy.SERVICE)
    groups = by_name(r)
    assert [g.name for g in r.groups] == ["asset", "payments", "portfolio", "transaction", "batch", "gateway"]
    assert [(g.alerts.alerts, g.pages.total) for g in r.groups] == [(4, 5), (1, 4), (1, 3), (2, 2), (0, 1), (1, 0)]
    assert astuple(groups["asset"].alerts.time_to_resolve) == (4, 600.0, 1800.0, 1800.0)  # 300 600 1260 1800
    assert groups["transaction"].alerts.refired == 1
    assert counts(r.total) == expected.COUNTS["all"]


def test_grouping_by_channel_counts_an_alert_under_every_channel_it_was_notified_on(
    reports: SqlReports, seeded: Seeded
) -> None:
    r = report(reports, GroupBy.CHANNEL)
    groups = by_name(r)
    assert {name: g.alerts.alerts for name, g in groups.items()} == {
        "pagerduty": 7,
        "slack": 8,
        "sms": 3,
        "email": 2,
        "email_digest": 1,
    }
    assert {name: g.pages.total for name, g in groups.items()} == {
        "pagerduty": 9,
        "sms": 6,
        "slack": 0,
        "email": 0,
        "email_digest": 0,
    }
    assert astuple(groups["sms"].alerts.time_to_ack) == (2, 180.0, 1320.0, 1320.0)
    # A6's re-fire, once on each channel it was notified on (two PagerDuty and two Slack notifications)
    assert {name: g.alerts.refired for name, g in groups.items() if g.alerts.refired} == {"pagerduty": 1, "slack": 1}
    assert counts(r.total) == expected.COUNTS["all"]  # the total counts each alert once


def test_grouping_by_alert_name_gives_each_rule_its_figures(reports: SqlReports, seeded: Seeded) -> None:
    groups = by_name(report(reports, GroupBy.ALERTNAME))
    assert counts(groups["DiskFull"]) == (3, 1, 2, 0, 0, 0, 0)
    assert astuple(groups["DiskFull"].pages) == (4, 0, 0)
    assert astuple(groups["QueueStuck"].alerts.time_to_resolve) == (1, 5400.0, 5400.0, 5400.0)


def test_deadlines_per_priority_come_with_the_routing_policy_deadline(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports, GroupBy.SERVICE)
    assert [astuple(d) for d in r.deadlines] == [
        ("critical", 300.0, 5, 2, 3),
        ("high", 3600.0, 2, 0, 0),
        ("medium", 86400.0, 1, 0, 0),
        ("low", None, 1, 0, 0),
    ]


def test_the_same_history_in_utc_moves_the_friday_night_pages_into_working_hours(
    reports: SqlReports, seeded: Seeded
) -> None:
    """Friday 23:59:59 and Saturday 00:00:00 in Seoul are Friday 14:59:59 and 15:00:00 in UTC."""
    r = report(reports, tz="UTC")
    friday = {d.day.isoformat(): astuple(d.pages) for d in r.days}["2026-03-06"]
    assert friday == (3, 0, 0)  # A4's pagerduty, sms and escalated sms (15:03:40)
    assert r.total.pages.total == 15


def test_a_working_hours_bound_inside_an_hour_splits_that_hours_pages_at_the_bound(
    reports: SqlReports, seeded: Seeded
) -> None:
    """From 10:01, A1's PagerDuty page at 10:00:05 is out of hours and its SMS page at 10:01:00 is in: one UTC
    hour, two segments."""
    request = ReportRequest(SINCE, UNTIL, GroupBy.PRIORITY, "Asia/Seoul", WorkingHours(10 * 60 + 1, 18 * 60), WEEKDAYS)
    r = read_report(reports, request, RoutingPolicy(), EVERYTHING)
    assert astuple(r.total.pages) == (5, 4, 6)
    assert astuple(by_name(r)["critical"].pages) == (3, 2, 6)
    assert astuple(by_name(r)["high"].pages) == expected.PAGES["high"]
    assert astuple({d.day.isoformat(): d.pages for d in r.days}["2026-03-02"]) == (3, 2, 0)


@pytest.mark.parametrize(
    ("since", "until", "alerts", "pages"),
    [
        (kst(7, "00:00"), kst(8, "00:00"), 0, 2),  # Saturday: A4's two weekend pages, A4 itself is Friday's
        (kst(6, "23:59:59"), kst(7, "00:00"), 0, 1),  # one second: Friday's last page only
        (kst(2, "00:00"), kst(2, "00:00:10"), 0, 0),  # A9's page comes at 00:00:10: excluded
        (kst(9, "00:00"), kst(10, "00:00"), 1, 1),  # A10, first seen at 00:00:00, and its page
    ],
)
def test_window_bounds_include_since_and_exclude_until(
    reports: SqlReports, seeded: Seeded, since: float, until: float, alerts: int, pages: int
) -> None:
    r = report(reports, since=since, until=until)
    assert (r.total.alerts.alerts, r.total.pages.total) == (alerts, pages)


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_incidents_opened_in_the_window_count_once_per_group_and_merged_ones_not_at_all(
    reports: SqlReports, seeded: Seeded, group_by: GroupBy
) -> None:
    r = report(reports, group_by)
    assert r.total.incidents == expected.INCIDENTS["all"]
    assert {g.name: g.incidents for g in r.groups} == expected.INCIDENTS[group_by.value]


@pytest.mark.parametrize(
    ("since", "until", "incidents"),
    [
        (kst(1, "23:59:50"), kst(2, "10:00"), 1),  # I6 opened at since: in; I1 at until: out
        (kst(2, "10:00"), kst(2, "11:00:01"), 1),  # I1; I2 was merged into it
        (kst(8, "22:00:01"), kst(9, "00:00:01"), 1),  # I7 opened at 00:00:00; I5 a second before since
    ],
)
def test_an_incident_belongs_to_the_window_it_was_opened_in(
    reports: SqlReports, seeded: Seeded, since: float, until: float, incidents: int
) -> None:
    assert report(reports, since=since, until=until).total.incidents == incidents


def test_an_empty_window_has_zero_counts_and_no_percentiles(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports, since=kst(20, "00:00"), until=kst(21, "00:00"))
    assert counts(r.total) == (0, 0, 0, 0, 0, 0, 0)
    assert r.total.incidents == 0
    assert astuple(r.total.alerts.time_to_ack) == (0, None, None, None)
    assert r.groups == ()
    assert r.noisiest == ()
    assert r.flapping == ()
    assert r.cycles_per_alert_per_day is None
    assert len(r.days) == 1
    assert r.total.page_share is None


def test_only_the_sections_asked_for_are_read(reports: SqlReports, seeded: Seeded) -> None:
    r = report(reports, sections=frozenset({Section.NOISIEST}))
    assert r.total.alerts == AlertFigures()
    assert r.total.incidents is None
    assert r.days == ()
    assert [n.alertname for n in r.noisiest][:2] == ["DiskFull", "PaymentsDown"]


def test_migration_9_turns_re_fires_recorded_as_changes_into_refired_entries(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    history = SqlAlertHistory(database)
    history.migrate(target=6)
    at = kst(3, "10:00")
    ids: dict[str, int] = {}
    for n, (name, steps) in enumerate(
        {
            "refired": ["firing", "resolved", "firing"],
            "arrived resolved": ["resolved", "firing"],
            "relabelled": ["firing", "relabelled"],
            "relabelled, resolved, fired again": ["firing", "relabelled", "resolved", "firing"],
        }.items()
    ):
        obs = observation(f"Alert{n}", f"fp-{n}", "high", "asset", at - 60)
        for step in steps:
            at += 120  # beyond RECEIVER_STALE_FIRING_GRACE: a firing after a resolve re-opens the alert
            if step == "relabelled":
                obs = replace(obs, content_hash="changed")
            history.record([replace(obs, status="resolved", ends_at=at) if step == "resolved" else obs], at)
        ids[name] = history.alerts(AlertFilter(limit=1))[0].id
    with database.connect() as conn:  # what version 6 wrote for a re-fire and for a label change alike
        conn.execute(
            "UPDATE timeline SET kind = 'changed', detail = 'labels, annotations or status changed' "
            "WHERE kind IN ('refired', 'changed')"
        )
    history.migrate()
    kinds = {name: [e.kind for e in history.alert(alert_id)[1]] for name, alert_id in ids.items()}
    assert kinds == {
        "refired": ["received", "resolved", "refired"],
        "arrived resolved": ["received", "refired"],
        "relabelled": ["received", "changed"],
        "relabelled, resolved, fired again": ["received", "changed", "resolved", "refired"],
    }


def test_migration_13_gives_the_history_recorded_before_it_the_same_figures(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    """The week recorded at schema 9: migration 13 computes the alerts' facts and copies the groups of the pages
    and re-fires already written."""
    history = SqlAlertHistory(database)
    history.migrate(target=9)
    seed(history, incidents=False)
    history.migrate()
    r = report(SqlReports(database))
    assert counts(r.total) == expected.COUNTS["all"]
    assert {g.name: counts(g) for g in r.groups} == {name: c for name, c in expected.COUNTS.items() if name != "all"}
    assert astuple(r.total.alerts.time_to_ack) == expected.TIME_TO_ACK["all"]
    assert astuple(r.total.alerts.time_to_resolve) == expected.TIME_TO_RESOLVE["all"]
    assert {g.name: astuple(g.pages) for g in r.groups if g.pages.total} == {
        name: split for name, split in expected.PAGES.items() if name != "all"
    }
    assert [(n.alertname, n.service, n.pages) for n in r.noisiest] == expected.NOISIEST


@pytest.mark.parametrize("offset", [61.0, 3 * 3600.0 + 7.5, 2 * 86400.0 + 11.25])  # 1 s, 1 min and 10 min buckets
def test_percentiles_inside_one_histogram_bucket_are_the_exact_durations(
    history: SqlAlertHistory, reports: SqlReports, offset: float
) -> None:
    """30 acknowledgements a few hundredths of a second apart share one bucket: the ranks are numbered in it."""
    first = kst(3, "10:00")
    expected_durations = []
    for i in range(30):
        seen = first + i * 60
        history.record([observation("Noisy", f"fp-{i}", "high" if i % 2 else "critical", "asset", seen - 1)], seen)
        acked = seen + offset + i * 0.03
        history.acknowledge(history.alerts(AlertFilter(limit=1))[0].id, "alice", "", acked)
        expected_durations.append((acked - seen, "high" if i % 2 else "critical"))
    r = report(reports, since=kst(3, "00:00"), until=kst(4, "00:00"), sections=frozenset({Section.ALERTS}))
    ordered = sorted(d for d, _ in expected_durations)
    assert astuple(r.total.alerts.time_to_ack) == (30, ordered[14], ordered[26], ordered[29])  # ranks 15 and 27
    high = sorted(d for d, p in expected_durations if p == "high")
    assert astuple(by_name(r)["high"].alerts.time_to_ack) == (15, high[7], high[13], high[14])  # ranks 8 and 14
