"""Alert-history retention on SQLite and PostgreSQL: old alerts go with their rows, in batches."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from receiver.store.audit import SqlAuditLog
from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.history import AlertFilter
from receiver.store.migrations import MIGRATIONS
from receiver.store.retention import PURGE_LOCK, AlertRetention, TimedTable, audit_purger
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver.test_history_contract import NOW, obs

DAY = 86400.0
NINETY_DAYS = 90 * DAY


def fill(history: SqlAlertHistory) -> None:
    """Seven alerts first seen 200 days ago (gone), two 89 days ago (kept), one long-running
    alert first seen 200 days ago but still seen yesterday (kept)."""
    for i in range(7):
        history.record([obs(f"Old{i}", starts_at=NOW - 200 * DAY)], NOW - 200 * DAY)
    for i in range(2):
        history.record([obs(f"Recent{i}", starts_at=NOW - 89 * DAY)], NOW - 89 * DAY)
    history.record([obs("LongRunning", starts_at=NOW - 200 * DAY)], NOW - 200 * DAY)
    history.record([obs("LongRunning", starts_at=NOW - 200 * DAY)], NOW - DAY)


def count(database: PostgresDatabase | SqliteDatabase, table: str) -> int:
    with database.connect() as conn:
        row: Any = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608 - test table names
        return int(row[0])


def test_alerts_past_the_retention_are_deleted_with_their_timeline_and_jobs_in_batches(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    history = SqlAlertHistory(database)
    history.migrate()
    fill(history)
    assert count(database, "outbox") == 20  # two channels per alert
    retention = AlertRetention(database, NINETY_DAYS, clock=lambda: NOW, batch=3)
    result = retention.purge()
    assert (result.alerts, result.outbox, result.skipped) == (7, 14, False)
    assert result.timeline >= 7
    names = sorted(a.alertname for a in history.alerts(AlertFilter()))
    assert names == ["LongRunning", "Recent0", "Recent1"]
    assert count(database, "outbox") == 6
    assert retention.purge().total == 0
    later = AlertRetention(database, NINETY_DAYS, clock=lambda: NOW + 2 * DAY, batch=3)
    assert later.purge().alerts == 2  # the 89-day-old alerts are now 91 days old


def test_extra_tables_such_as_the_audit_log_are_purged_by_their_time_column(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    SqlAlertHistory(database).migrate()
    with database.connect() as conn:
        conn.execute("CREATE TABLE audit_probe (id INTEGER PRIMARY KEY, at DOUBLE PRECISION NOT NULL)")
        for i in range(10):
            at = NOW - (100 if i < 6 else 10) * DAY
            conn.execute(
                "INSERT INTO audit_probe (id, at) VALUES (%s, %s)"
                if isinstance(database, PostgresDatabase)
                else "INSERT INTO audit_probe (id, at) VALUES (?, ?)",
                (i, at),
            )
    retention = AlertRetention(database, NINETY_DAYS, lambda: NOW, extra=[TimedTable("audit_probe", "at")], batch=4)
    assert retention.purge().other == (("audit_probe", 6),)
    assert count(database, "audit_probe") == 4


def test_the_append_only_audit_log_is_purged_with_the_alerts_retention_and_only_past_it(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    SqlAlertHistory(database).migrate()
    for age_days in (200, 120, 91, 89, 1):
        SqlAuditLog(database, functools.partial(float, NOW - age_days * DAY)).record(
            "cli:test", "reload", "x", "cli", "success"
        )
    retention = AlertRetention(database, NINETY_DAYS, lambda: NOW, purgers=(audit_purger(database),), batch=2)
    assert retention.purge().other == (("audit_log", 3),)
    assert count(database, "audit_log") == 2
    assert retention.purge().other == (("audit_log", 0),)


def test_a_second_process_skips_the_purge_while_another_holds_the_lock(postgres_uri: str) -> None:
    database = PostgresDatabase(postgres_uri)
    try:
        history = SqlAlertHistory(database)
        history.migrate()
        fill(history)
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            with psycopg.connect(postgres_uri) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (PURGE_LOCK,))
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(10)
        try:
            result = AlertRetention(database, NINETY_DAYS, lambda: NOW).purge()
        finally:
            release.set()
            holder.join(10)
        assert (result.skipped, result.total) == (True, 0)
        assert AlertRetention(database, NINETY_DAYS, lambda: NOW).purge().alerts == 7
    finally:
        database.close()


def test_monitoring_purge_deletes_the_expired_history_once_and_reports_it(postgres_uri: str) -> None:
    database = PostgresDatabase(postgres_uri)
    try:
        history = SqlAlertHistory(database)
        history.migrate()
        history.record([obs("Ancient", starts_at=time.time() - 200 * DAY)], time.time() - 200 * DAY)
        history.record([obs("Fresh")], time.time())
    finally:
        database.close()
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_URI": postgres_uri, "RETENTION_ALERTS": "90d"}
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "purge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "purged alerts 1, timeline 1, outbox 2" in done.stdout
    reopened = PostgresDatabase(postgres_uri)
    try:
        assert count(reopened, "alerts") == 1
    finally:
        reopened.close()


@pytest.mark.parametrize("schema", [0, 6], ids=["never migrated", "before the acknowledge links' table"])
def test_monitoring_purge_migrates_an_older_database_first(tmp_path: Path, schema: int) -> None:
    path = tmp_path / "alerts.sqlite3"
    database = SqliteDatabase(path)
    try:
        if schema:
            SqlAlertHistory(database).migrate(schema)
    finally:
        database.close()
    env = {"PATH": "/usr/bin:/bin", "RECEIVER_SQLITE_PATH": str(path), "RETENTION_ALERTS": "90d"}
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "purge"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "purged alerts 0, timeline 0, outbox 0" in done.stdout
    reopened = SqliteDatabase(path)
    try:
        assert SqlAlertHistory(reopened).migrate() == MIGRATIONS[-1].version  # already there: nothing left to apply
        assert count(reopened, "ack_links_used") == 0
    finally:
        reopened.close()
