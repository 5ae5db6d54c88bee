"""Operations: what encryption and the archive add to a backup, and what batching costs a purge.

- backup: ``create_backup`` of a receiver database holding 20,000 alerts (with their timeline
  and outbox rows) against the same tables ``COPY``-ed to plain files (no archive, no
  encryption, no digests), in the same run.
- purge: ``AlertRetention.purge`` in batches of 500 deleting 20,000 expired alerts with their
  rows, against one ``DELETE`` per table in a single transaction (the lock-holding way).

Both in interleaved rounds; each purge round fills a fresh database first.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import Samples, interleave
from ops.backup.archive import Stores, create_backup
from receiver.store.database import PostgresDatabase
from receiver.store.retention import AlertRetention
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver.test_history_contract import NOW, obs

ALERTS = 20_000
DAY = 86400.0


def fill(uri: str, at: float) -> None:
    db = PostgresDatabase(uri)
    try:
        history = SqlAlertHistory(db)
        history.migrate()
        for start in range(0, ALERTS, 500):
            history.record([obs(f"Bench{i}", starts_at=at - i) for i in range(start, start + 500)], at)
    finally:
        db.close()


def plain_copy(uri: str, out: Path) -> None:
    with psycopg.connect(uri) as conn:
        for table in ("alerts", "timeline", "outbox", "domain_event_outbox", "deadmans_switch", "schema_migrations"):
            with (
                (out / table).open("wb") as f,
                conn.cursor().copy(sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(sql.Identifier(table))) as copy,
            ):
                for data in copy:
                    f.write(data)


def purge(way: str) -> float:
    """Seconds to purge ``ALERTS`` expired alerts with their rows, batched or in one transaction."""
    with fresh_database() as uri:
        fill(uri, NOW - 200 * DAY)
        started = time.perf_counter()
        if way == "batched":
            db = PostgresDatabase(uri)
            try:
                assert AlertRetention(db, 90 * DAY, lambda: NOW).purge().alerts == ALERTS
            finally:
                db.close()
        else:
            with psycopg.connect(uri) as conn:
                cutoff = NOW - 90 * DAY
                old = "SELECT id FROM alerts WHERE first_seen < %s AND last_seen < %s"
                conn.execute(f"DELETE FROM timeline WHERE alert_id IN ({old})", (cutoff, cutoff))  # noqa: S608
                conn.execute(f"DELETE FROM outbox WHERE alert_id IN ({old})", (cutoff, cutoff))  # noqa: S608
                conn.execute("DELETE FROM alerts WHERE first_seen < %s AND last_seen < %s", (cutoff, cutoff))
        return time.perf_counter() - started


def run() -> list[Result]:
    samples = Samples()
    with fresh_database() as uri, tempfile.TemporaryDirectory() as tmp:
        fill(uri, NOW)
        key = bytes(32)
        plain_copy(uri, Path(tmp))  # warm the cache for both

        def timed_copy() -> None:
            started = time.perf_counter()
            plain_copy(uri, Path(tmp))
            samples.add("copy", time.perf_counter() - started)

        def timed_backup() -> None:
            started = time.perf_counter()
            create_backup(Path(tmp) / "backup.enc", key, Stores(postgres_uri=uri))
            samples.add("backup", time.perf_counter() - started)

        interleave([timed_copy, timed_backup])
    interleave(
        [
            lambda: samples.add("batched", ALERTS / purge("batched")),
            lambda: samples.add("single", ALERTS / purge("single")),
        ]
    )
    backup, baseline = samples["backup"], samples["copy"]
    backup_line = Result(
        f"backup of {ALERTS:,} alerts + rows (inverse time)", backup.inverse(), "backups/s",
        "plain COPY of the same tables", baseline.inverse(), f"{backup.value:.2f}s vs {baseline.value:.2f}s",
    )  # fmt: skip
    purge_line = Result(
        f"purge of {ALERTS:,} expired alerts in batches of 500", samples["batched"], "alerts/s",
        "one DELETE per table, one transaction", samples["single"], "locks held per batch, not for the whole purge",
    )  # fmt: skip
    return [backup_line, purge_line]
