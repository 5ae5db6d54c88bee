"""Every SQL panel runs against a real PostgreSQL holding the receiver's and the exporter's tables.

The schema comes from the code that owns it: the receiver's migrations (through
SqlAlertHistory) and the exporter's SnapshotStore. Alerts, acknowledgements, escalations and
notification outcomes are recorded through the real SqlAlertHistory API; snapshots through
SnapshotStore.write and roll_up. Grafana's PostgreSQL macros are expanded as Grafana does:
``$__timeFilter(c)`` to ``c BETWEEN '<from>' AND '<to>'`` (RFC 3339), ``$__timeFrom()`` and
``$__timeTo()`` to those literals, ``$__unixEpochFilter(c)`` to ``c >= <from> AND c <= <to>``
(epoch seconds), and ``${service:regex}`` to the All value ``.*``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from exporter.snapshots import SnapshotStore
from grafana import alerts, business_insights
from grafana.catalogue import DASHBOARD_DIR, DASHBOARDS
from receiver.store.database import PostgresDatabase
from receiver.store.history import AlertFilter, NewJob, Observation
from receiver.store.sql_history import SqlAlertHistory

NOW = float(int(time.time()))
FROM, TO = NOW - 3 * 86400, NOW + 3600


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(raw_sql: str) -> str:
    """Grafana's PostgreSQL macros and the service variable, for the range FROM..TO."""
    text = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{rfc3339(FROM)}' AND '{rfc3339(TO)}'", raw_sql)
    text = re.sub(r"\$__unixEpochFilter\(([^)]+)\)", rf"\1 >= {FROM:.0f} AND \1 <= {TO:.0f}", text)
    text = text.replace("$__timeFrom()", f"'{rfc3339(FROM)}'").replace("$__timeTo()", f"'{rfc3339(TO)}'")
    text = text.replace("${service:regex}", ".*")
    assert "$__" not in text, text
    assert "${" not in text, text
    return text


@dataclass(frozen=True)
class SqlPanel:
    key: str
    sql: str
    time_series: bool


CHECKED_ELSEWHERE = ("alert-quality.json",)


def sql_panels(names: tuple[str, ...] = tuple(sorted(set(DASHBOARDS) - set(CHECKED_ELSEWHERE)))) -> list[SqlPanel]:
    """The SQL targets of these dashboards (Alert quality's are run, with their values checked, on a
    history of their own in test_alert_quality_panels.py)."""
    out = []
    for name in names:
        board = json.loads((DASHBOARD_DIR / name).read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if "rawSql" in target:
                    key = f"{board['uid']} / {panel['title']} / {target['refId']}"
                    out.append(SqlPanel(key, target["rawSql"], target["format"] == "time_series"))
    return out


def observation(name: str, priority: str, service: str, starts_at: float, **changes: Any) -> Observation:
    fields: dict[str, Any] = {
        "fingerprint": f"fp-{name}",
        "starts_at": starts_at,
        "alertname": name,
        "status": "firing",
        "priority": priority,
        "priority_defaulted": False,
        "service": service,
        "labels": {"alertname": name, "priority": priority, "service": service},
        "annotations": {"summary": name},
        "generator_url": "http://prometheus/graph",
        "ends_at": None,
        "content_hash": f"h-{name}",
        "channels": ("pagerduty", "slack"),
        "retry_budget": 3,
        "ack_deadline": 300.0,
        **changes,
    }
    return Observation(**fields)


@pytest.fixture
def database(postgres_uri: str) -> str:
    """Alert history and metric snapshots, recorded through the code that owns the tables."""
    db = PostgresDatabase(postgres_uri)
    history = SqlAlertHistory(db)
    history.migrate()
    down = observation("ServiceDown", "critical", "asset-service", NOW - 3600)
    lag = observation("EventLagHigh", "high", "monitoring-exporter", NOW - 600, ack_deadline=60.0)
    watchdog = observation("Watchdog", "low", "monitoring", NOW - 900, channels=(), ack_deadline=None)
    history.record([down, watchdog], NOW - 3590)
    history.record([lag], NOW - 590)
    ids = {a.alertname: a.id for a in history.alerts(AlertFilter())}
    history.acknowledge(ids["ServiceDown"], "alice", "on it", NOW - 3300)
    history.record(
        [observation("ServiceDown", "critical", "asset-service", NOW - 3600, status="resolved", ends_at=NOW - 1800)],
        NOW - 1790,
    )
    [due] = history.due_escalations(NOW - 100, 10)
    assert history.escalate(due, [NewJob("sms", "escalate", 3)], NOW + 3600, NOW - 100)
    jobs = history.claim(NOW - 50, 30.0, 100)
    by_channel = {(j.alert.alertname, j.channel, j.action): j for j in jobs}
    history.delivered(by_channel[("ServiceDown", "pagerduty", "trigger")], NOW - 49)
    history.retry_later(by_channel[("ServiceDown", "slack", "trigger")], NOW + 10, "slack: HTTP 500", NOW - 48)
    history.dead_letter(by_channel[("EventLagHigh", "slack", "trigger")], "slack: HTTP 500", NOW - 47, None)
    db.close()

    snapshots = SnapshotStore(postgres_uri, 15 * 86400, 90 * 86400)
    today = datetime.fromtimestamp(NOW, UTC).replace(hour=0, minute=5, second=0)
    yesterday = today - timedelta(days=1)
    snapshots.prepare(today.date())
    completed, failed = (
        'transactions_total{status="completed",type="buy"}',
        'transactions_total{status="failed",type="buy"}',
    )
    samples = [
        (
            yesterday,
            {
                completed: 100,
                failed: 10,
                "portfolio_goals_achieved_total": 2,
                "portfolio_goal_progress_ratio_count": 10,
            },
        ),
        (
            yesterday + timedelta(hours=20),
            {
                completed: 160,
                failed: 15,
                "portfolio_goals_achieved_total": 5,
                "portfolio_goal_progress_ratio_count": 40,
            },
        ),
        (
            today,
            {
                completed: 160,
                failed: 15,
                "portfolio_goals_achieved_total": 5,
                "portfolio_goal_progress_ratio_count": 40,
            },
        ),
        (
            today + timedelta(minutes=1),
            {
                completed: 200,
                failed: 25,
                "portfolio_goals_achieved_total": 6,
                "portfolio_goal_progress_ratio_count": 50,
            },
        ),
    ]
    for at, values in samples:
        snapshots.write(at, "exporter", {k: float(v) for k, v in values.items()})
    assert snapshots.roll_up(yesterday.date()) == 4
    return postgres_uri


def run(uri: str, raw_sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with psycopg.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(expand(raw_sql).encode())
        assert cur.description is not None
        return [c.name for c in cur.description], cur.fetchall()


def test_every_sql_panel_query_runs_and_returns_rows(database: str) -> None:
    panels = sql_panels()
    assert len(panels) >= 11
    for panel in panels:
        columns, rows = run(database, panel.sql)
        assert rows, f"{panel.key}: no rows"
        if panel.time_series:
            assert columns[0] == "time", f"{panel.key}: a time series needs a leading time column, got {columns}"


def test_mtta_and_mttr_are_measured_from_the_alert_start_per_priority(database: str) -> None:
    columns, rows = run(database, alerts.MTTA_MTTR)
    by_priority = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    assert set(by_priority) == {"critical", "high"}  # the Watchdog is left out
    assert by_priority["critical"]["MTTA"] == pytest.approx(300.0)
    assert by_priority["critical"]["MTTR"] == pytest.approx(1800.0)
    assert by_priority["high"]["MTTA"] is None
    assert by_priority["high"]["firing, unacknowledged"] == 1


def test_an_escalated_alert_is_an_sla_breach(database: str) -> None:
    _, rows = run(database, alerts.SLA_BREACHES)
    assert rows == [("high", 1, 1)]
    assert run(database, alerts.SLA_BREACH_COUNT)[1] == [(1,)]


def test_notification_outcomes_count_failed_attempts_and_dead_letters_per_channel(database: str) -> None:
    columns, rows = run(database, alerts.NOTIFICATION_FAILURES)
    slack = dict(zip(columns, next(r for r in rows if r[0] == "slack"), strict=True))
    assert slack["dead-lettered"] == 1
    assert slack["a last error"] == "slack: HTTP 500"
    _, failures = run(database, alerts.FAILED_DELIVERIES)
    assert sorted((r[1], r[4]) for r in failures) == [("slack", "dead_letter"), ("slack", "delivery_failed")]


def test_business_trends_combine_rolled_up_days_with_raw_snapshots(database: str) -> None:
    _, weekly = run(database, business_insights.WEEKLY_VOLUME)
    assert sum(row[1] for row in weekly) == pytest.approx(60 + 5 + 40 + 10)
    _, success = run(database, business_insights.DAILY_SUCCESS)
    assert [round(row[1], 4) for row in success] == [round(60 / 65, 4), round(40 / 50, 4)]
    _, goals = run(database, business_insights.GOAL_TREND)
    assert [round(row[1], 4) for row in goals] == [0.1, 0.1]
