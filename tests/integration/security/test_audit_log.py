"""The audit log on SQLite and PostgreSQL: append-only, readable by filter, purged only past its cutoff."""

from __future__ import annotations

import pytest

from receiver.config.settings import ReceiverConfig
from receiver.store import audit
from receiver.store.audit import AuditFilter, SqlAuditLog
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory

NOW = 1_772_442_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_entries_record_who_what_when_where_and_the_outcome(database: PostgresDatabase | SqliteDatabase) -> None:
    log = SqlAuditLog(database, Clock())
    log.record("k1", audit.ACKNOWLEDGE, "alert:7", "10.0.0.5", audit.SUCCESS, "on call")
    [entry] = log.entries(AuditFilter())
    assert (entry.at, entry.actor, entry.action, entry.target, entry.source, entry.outcome, entry.detail) == (
        NOW,
        "k1",
        "alert.acknowledge",
        "alert:7",
        "10.0.0.5",
        "success",
        "on call",
    )


def test_entries_filter_by_actor_action_and_outcome_and_page_newest_first(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    clock = Clock()
    log = SqlAuditLog(database, clock)
    for n in range(5):
        clock.now = NOW + n
        log.record(f"k{n % 2}", audit.KEY_CREATE if n % 2 else audit.CONFIG_RELOAD, f"t{n}", "cli", audit.SUCCESS)
    assert [e.target for e in log.entries(AuditFilter(actor="k1"))] == ["t3", "t1"]
    assert [e.target for e in log.entries(AuditFilter(action=audit.CONFIG_RELOAD, limit=2))] == ["t4", "t2"]
    first = log.entries(AuditFilter(limit=2))
    assert [e.target for e in log.entries(AuditFilter(limit=2, after_id=first[-1].id))] == ["t2", "t1"]
    assert [e.target for e in log.entries(AuditFilter(since=NOW + 1, until=NOW + 3))] == ["t2", "t1"]
    assert log.entries(AuditFilter(outcome=audit.FAILED)) == []


def test_the_table_refuses_update_and_delete(database: PostgresDatabase | SqliteDatabase) -> None:
    log = SqlAuditLog(database, Clock())
    log.record("k1", audit.KEY_REVOKE, "key:k2", "cli", audit.SUCCESS)
    for statement in ("UPDATE audit_log SET outcome = 'failed'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseUnavailable, match="append-only"), database.connect() as conn:
            conn.execute(statement)
    assert [e.outcome for e in log.entries(AuditFilter())] == ["success"]


def test_truncate_is_refused_on_postgresql(postgres_uri: str) -> None:
    database = PostgresDatabase(postgres_uri)
    SqlAlertHistory(database).migrate()
    SqlAuditLog(database, Clock()).record("k1", audit.BACKUP, "backup.tar", "cli", audit.SUCCESS)
    with pytest.raises(DatabaseUnavailable, match="append-only"), database.connect() as conn:
        conn.execute("TRUNCATE audit_log")
    assert len(SqlAuditLog(database, Clock()).entries(AuditFilter())) == 1
    database.close()


def test_purge_deletes_only_entries_older_than_the_cutoff_in_batches(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    clock = Clock()
    log = SqlAuditLog(database, clock)
    for n in range(5):
        clock.now = NOW + n
        log.record("k", audit.ESCALATE, f"alert:{n}", "worker", audit.SUCCESS)
    assert log.purge(before=NOW + 3, batch=2) == 2
    assert log.purge(before=NOW + 3, batch=2) == 1
    assert log.purge(before=NOW + 3, batch=2) == 0
    assert [e.target for e in log.entries(AuditFilter())] == ["alert:4", "alert:3"]
    with pytest.raises(DatabaseUnavailable, match="append-only"), database.connect() as conn:
        conn.execute("DELETE FROM audit_log")  # the purge left no window open behind it


def test_entries_past_the_alert_retention_are_purged_batch_by_batch(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    clock = Clock()
    log = SqlAuditLog(database, clock)
    for n in range(7):
        clock.now = NOW - 91 * 86400 + n  # older than 90 days
        log.record("k", audit.RESEND, f"alert:{n}", "10.0.0.1", audit.SUCCESS)
    clock.now = NOW
    log.record("k", audit.RESEND, "alert:new", "10.0.0.1", audit.SUCCESS)
    retention = ReceiverConfig.from_environ({}).shared.retention.alerts_seconds
    assert audit.purge_expired(log, NOW, retention, batch=3) == 7
    assert [e.target for e in log.entries(AuditFilter())] == ["alert:new"]
