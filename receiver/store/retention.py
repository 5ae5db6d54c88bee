"""Alert-history retention: delete what is older than RETENTION_ALERTS (90 days by default).

The purge runs in short batches, each its own transaction, so it never holds locks on the hot
tables for long: a batch picks at most ``batch`` alert ids through the ``alerts_first_seen``
index, deletes their timeline rows and outbox jobs, then the alerts themselves, and commits.
An alert is old when it was first *and* last seen before the cutoff, so a long-running alert
that still fires is kept. The dead man's switch's open episode is never deleted, nor an alert
whose domain events, recorded by reference, are still in their outbox (the relay builds them
from its row; relayed, they leave it RETENTION_EVENTS after they were written).

Other tables with a time column join the purge as ``TimedTable`` rows in
``AlertRetention(extra=...)``; each is deleted by primary key in batches. Tables that guard their
own deletes (the append-only ``audit_log``) join as ``purgers``: named callables given the cutoff
that delete in their own batches and return how many rows went.

On PostgreSQL every batch takes a transaction-level advisory lock with ``pg_try_advisory_xact_lock``:
when another receiver process holds it, this one stops and leaves the work to it. ``start``
runs the purge on a thread every ``every`` seconds; ``stop`` ends it and waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from receiver.store.audit import SqlAuditLog, purge_before
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase

log = structlog.get_logger(__name__)

PURGE_LOCK = 7243002  # pg advisory lock key: one purging process at a time (7243001 is the migrator's)
DEFAULT_BATCH = 500
DEFAULT_EVERY = 3600.0


@dataclass(frozen=True)
class TimedTable:
    """A table purged by age: rows whose ``time_column`` is before the cutoff go, ``key`` by ``key``.

    ``epoch``: the column holds seconds since the epoch (DOUBLE PRECISION, as the receiver's own
    tables do); otherwise it is a ``timestamptz`` (compared with ``to_timestamp``)."""

    table: str
    time_column: str
    key: str = "id"
    epoch: bool = True


# Tables beyond the alert history that follow the alerts retention and can be deleted from directly.
# (The audit log refuses plain DELETEs: it is purged through ``audit_purger``.)
# Used acknowledge links expire long before that (RECEIVER_ACK_LINK_TTL); keeping them as long as
# alerts is simple and always long enough.
RETAINED_WITH_ALERTS: tuple[TimedTable, ...] = (TimedTable("ack_links_used", "used_at", key="token_id"),)
Purger = tuple[str, Callable[[float], int]]  # (table, delete rows older than the cutoff -> count)


def audit_purger(database: PostgresDatabase | SqliteDatabase) -> Purger:
    """The audit log, purged with the alerts retention through its own guarded purge."""
    audit_log = SqlAuditLog(database, time.time)
    return ("audit_log", lambda cutoff: purge_before(audit_log, cutoff))


def incident_purger(database: PostgresDatabase | SqliteDatabase, batch: int = DEFAULT_BATCH) -> Purger:
    """Incidents resolved (or merged) before the cutoff whose alerts and jobs are gone, with their
    timeline; those merged into them first (a later round takes the incident they pointed at)."""
    postgres = isinstance(database, PostgresDatabase)
    gone = (
        "SELECT id FROM incidents i WHERE i.status <> 'open' AND i.resolved_at < %s "
        "AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = i.id) "
        "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id) "
        "AND NOT EXISTS (SELECT 1 FROM incidents c WHERE c.merged_into = i.id) ORDER BY i.id LIMIT %s"
    )

    def sql(text: str) -> str:
        return text if postgres else text.replace("%s", "?")

    def purge(cutoff: float) -> int:
        total = 0
        while True:
            with database.connect() as conn:
                ids = [row[0] for row in conn.execute(sql(gone), (cutoff, batch)).fetchall()]
                if ids:
                    marks = ", ".join(["%s"] * len(ids))
                    conn.execute(sql(f"DELETE FROM incident_timeline WHERE incident_id IN ({marks})"), ids)  # noqa: S608 - placeholders only
                    conn.execute(sql(f"DELETE FROM incidents WHERE id IN ({marks})"), ids)  # noqa: S608 - placeholders only
            total += len(ids)
            if len(ids) < batch:
                return total

    return ("incidents", purge)


@dataclass(frozen=True)
class PurgeResult:
    alerts: int = 0
    timeline: int = 0
    outbox: int = 0
    other: tuple[tuple[str, int], ...] = ()
    skipped: bool = False  # another process held the purge lock

    @property
    def total(self) -> int:
        return self.alerts + self.timeline + self.outbox + sum(n for _, n in self.other)


class AlertRetention:
    def __init__(
        self,
        database: PostgresDatabase | SqliteDatabase,
        retention_seconds: float,
        clock: Callable[[], float],
        *,
        extra: Sequence[TimedTable] = (),
        purgers: Sequence[Purger] = (),
        batch: int = DEFAULT_BATCH,
        every: float = DEFAULT_EVERY,
    ) -> None:
        self._db = database
        self._retention = retention_seconds
        self._clock = clock
        self._extra = tuple(extra)
        self._purgers = tuple(purgers)
        self._batch = batch
        self._every = every
        self._postgres = isinstance(database, PostgresDatabase)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    def _locked(self, conn: Any) -> bool:
        if not self._postgres:
            return True  # SQLite: BEGIN IMMEDIATE already admits one writer
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (PURGE_LOCK,)).fetchone()
        return bool(row[0])

    def purge(self) -> PurgeResult:
        """Delete everything past the retention, batch by batch. Returns the counts per table."""
        cutoff = self._clock() - self._retention
        alerts = timeline = outbox = 0
        while True:
            with self._db.connect() as conn:
                if not self._locked(conn):
                    return PurgeResult(alerts, timeline, outbox, skipped=True)
                ids: list[Any] = [
                    row[0]
                    for row in conn.execute(
                        self._sql(
                            "SELECT id FROM alerts WHERE first_seen < %s AND last_seen < %s AND id NOT IN "
                            "(SELECT episode_alert_id FROM deadmans_switch WHERE episode_alert_id IS NOT NULL) "
                            # an alert whose domain events are built from its row stays until they go
                            "AND NOT EXISTS (SELECT 1 FROM domain_event_outbox e WHERE e.alert_id = alerts.id "
                            "AND e.event IS NULL) ORDER BY first_seen LIMIT %s"
                        ),
                        (cutoff, cutoff, self._batch),
                    ).fetchall()
                ]
                if not ids:
                    break
                marks = ", ".join(["%s"] * len(ids))
                timeline += self._delete(conn, f"DELETE FROM timeline WHERE alert_id IN ({marks})", ids)  # noqa: S608 - placeholders only
                outbox += self._delete(conn, f"DELETE FROM outbox WHERE alert_id IN ({marks})", ids)  # noqa: S608
                alerts += self._delete(conn, f"DELETE FROM alerts WHERE id IN ({marks})", ids)  # noqa: S608
            if len(ids) < self._batch:
                break
        other: list[tuple[str, int]] = []
        for table in self._extra:
            deleted = self._purge_table(table, cutoff)
            if deleted is None:
                return PurgeResult(alerts, timeline, outbox, tuple(other), skipped=True)
            other.append((table.table, deleted))
        for name, purge in self._purgers:
            other.append((name, purge(cutoff)))
        result = PurgeResult(alerts, timeline, outbox, tuple(other))
        if result.total:
            log.info("alert history purged", alerts=alerts, timeline=timeline, outbox=outbox, **dict(other))
        return result

    def _delete(self, conn: Any, text: str, params: Sequence[Any]) -> int:
        return int(conn.execute(self._sql(text), params).rowcount)

    def _purge_table(self, table: TimedTable, cutoff: float) -> int | None:
        bound = "%s" if table.epoch or not self._postgres else "to_timestamp(%s)"
        statement = (
            f"DELETE FROM {table.table} WHERE {table.key} IN (SELECT {table.key} FROM {table.table} "  # noqa: S608 - names from code
            f"WHERE {table.time_column} < {bound} ORDER BY {table.time_column} LIMIT %s)"
        )
        total = 0
        while True:
            with self._db.connect() as conn:
                if not self._locked(conn):
                    return None
                deleted = self._delete(conn, statement, (cutoff, self._batch))
            total += deleted
            if deleted < self._batch:
                return total

    # --- the thread ---

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="alert-retention", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.purge()
            except DatabaseUnavailable as exc:
                log.warning("alert history purge failed", reason=str(exc))
            except Exception:  # the loop's edge: log and try again next time
                log.exception("alert history purge failed unexpectedly")
            self._stopping.wait(self._every)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
