"""Every SQL panel of the Alert quality dashboard on real PostgreSQL, over the hand-computed week of
tests/alert_quality.py: each gives the week's figures, the same as the receiver's report.

Grafana's macros and variables are expanded as Grafana does for the range [SINCE, UNTIL - 1 s] (its
``$__unixEpochFilter`` includes the end; the report's window excludes it) with the dashboard's
defaults: ``$tz`` Asia/Seoul, working hours 09:00-18:00 Monday to Friday, paging channels pagerduty
and sms, ``$service`` All.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from grafana import alert_quality
from grafana.catalogue import DASHBOARD_DIR
from receiver.config.routing import RoutingPolicy
from receiver.reports.figures import EVERYTHING, read_report
from receiver.reports.parameters import ReportRequest
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests import alert_quality as expected
from tests.alert_quality import SINCE, UNTIL, seed
from tests.conftest import fresh_database

FROM, TO = SINCE, UNTIL - 1
VARIABLES = {
    "${service:regex}": ".*",
    "${tz:sqlstring}": "'Asia/Seoul'",
    "${working_start:sqlstring}": "'09:00'",
    "${working_end:sqlstring}": "'18:00'",
    "${working_days:csv}": "1,2,3,4,5",
    "${paging_channels:sqlstring}": "'pagerduty','sms'",
}


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(raw_sql: str) -> str:
    text = re.sub(r"\$__unixEpochFilter\(([^)]+)\)", rf"\1 >= {FROM:.0f} AND \1 <= {TO:.0f}", raw_sql)
    text = text.replace("$__timeFrom()", f"'{rfc3339(FROM)}'").replace("$__timeTo()", f"'{rfc3339(TO)}'")
    for variable, value in VARIABLES.items():
        text = text.replace(variable, value)
    assert "$__" not in text, text
    assert "${" not in text, text
    return text


@pytest.fixture(scope="module")
def database(postgres_server_uri: str) -> Iterator[str]:
    with fresh_database(postgres_server_uri) as uri:
        db = PostgresDatabase(uri)
        history = SqlAlertHistory(db)
        history.migrate()
        seed(history)
        db.close()
        yield uri


def run(uri: str, raw_sql: str) -> list[dict[str, Any]]:
    with psycopg.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(expand(raw_sql).encode())
        assert cur.description is not None
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def single(uri: str, raw_sql: str) -> Any:
    [row] = run(uri, raw_sql)
    [value] = row.values()
    return value


def test_every_sql_panel_of_the_dashboard_is_checked_here() -> None:
    board = json.loads((DASHBOARD_DIR / "alert-quality.json").read_text())
    queries = {t["rawSql"] for p in board["panels"] for t in p.get("targets", []) if "rawSql" in t}
    checked = {
        alert_quality.PAGE_COUNT,
        alert_quality.PAGES_OUT_OF_HOURS,
        alert_quality.ALERTS_FIRED,
        alert_quality.INCIDENTS,
        alert_quality.ACKNOWLEDGED_SHARE,
        alert_quality.RESOLVED_UNACKNOWLEDGED,
        alert_quality.DEADLINES_MISSED,
        alert_quality.PAGES_PER_DAY,
        alert_quality.PAGES_BY_HOUR,
        alert_quality.DURATIONS,
        alert_quality.DEADLINES,
        alert_quality.NOISIEST,
        alert_quality.FLAPPING,
    }
    assert queries == checked


def test_the_single_figures_are_the_weeks(database: str) -> None:
    assert single(database, alert_quality.PAGE_COUNT) == 15
    assert single(database, alert_quality.PAGES_OUT_OF_HOURS) == 3 + 6
    assert single(database, alert_quality.ALERTS_FIRED) == 9
    assert single(database, alert_quality.ACKNOWLEDGED_SHARE) == pytest.approx(4 / 9)
    assert single(database, alert_quality.RESOLVED_UNACKNOWLEDGED) == 3
    assert single(database, alert_quality.DEADLINES_MISSED) == 2
    assert single(database, alert_quality.INCIDENTS) == expected.INCIDENTS["all"]


def test_pages_per_day_are_split_by_seoul_working_hours(database: str) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    found: dict[str, list[int]] = {}
    for row in run(database, alert_quality.PAGES_PER_DAY):
        day = row["time"].astimezone(seoul)
        assert (day.hour, day.minute) == (0, 0)  # the series' points are local midnights
        split = found.setdefault(day.date().isoformat(), [0, 0, 0])
        split[["working hours", "out of hours", "weekend"].index(row["metric"])] = row["value"]
    assert found == {d: list(s) for d, s in expected.PAGES_PER_DAY.items() if sum(s)}


def test_pages_by_hour_match_the_reports_week(database: str) -> None:
    db = PostgresDatabase(database)
    try:
        report = read_report(SqlReports(db), ReportRequest(SINCE, UNTIL), RoutingPolicy(), EVERYTHING)
    finally:
        db.close()
    rows = {row["hour"]: row for row in run(database, alert_quality.PAGES_BY_HOUR)}
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    for hour in range(24):
        row = rows.get(hour, dict.fromkeys(days, 0))
        assert [row[d] for d in days] == [report.week[d][hour] for d in range(7)], hour
    assert rows[22]["sun"] == 4


def test_durations_by_priority_are_the_reports_nearest_rank_percentiles(database: str) -> None:
    rows = {row["priority"]: row for row in run(database, alert_quality.DURATIONS)}
    assert list(rows) == ["critical", "high", "medium", "low"]
    for priority, (count, p50, p90, longest) in expected.TIME_TO_ACK.items():
        if priority != "all":
            row = rows[priority]
            assert (row["acknowledged"], row["to ack p50"], row["to ack p90"], row["to ack max"]) == (
                count,
                p50,
                p90,
                longest,
            )
    for priority, (_, p50, p90, longest) in expected.TIME_TO_RESOLVE.items():
        if priority != "all":
            row = rows[priority]
            assert (row["to resolve p50"], row["to resolve p90"], row["to resolve max"]) == (p50, p90, longest)
    assert rows["low"]["to ack p50"] is None


def test_deadlines_by_priority_count_fates_escalations_and_missed_deadlines(database: str) -> None:
    rows = {row["priority"]: row for row in run(database, alert_quality.DEADLINES)}
    for priority in ("critical", "high", "medium", "low"):
        alerts, _, unacked, firing, escalations, missed, _ = expected.COUNTS[priority]
        row = rows[priority]
        assert (
            row["alerts"],
            row["resolved, nobody acknowledged"],
            row["firing, unacknowledged"],
            row["escalations"],
            row["deadlines missed"],
        ) == (alerts, unacked, firing, escalations, missed)


def test_the_noisiest_alerts_and_their_share(database: str) -> None:
    rows = run(database, alert_quality.NOISIEST)
    assert [(r["alertname"], r["service"], r["pages"]) for r in rows] == expected.NOISIEST
    assert rows[0]["share of pages"] == pytest.approx(4 / 15)


def test_flapping_alerts_count_new_firings_and_re_fires(database: str) -> None:
    rows = run(database, alert_quality.FLAPPING)
    assert [(r["fingerprint"], r["alertname"], r["cycles"]) for r in rows] == expected.FLAPPING
    assert float(rows[0]["per day"]) == pytest.approx(3 / 7, rel=1e-4)
