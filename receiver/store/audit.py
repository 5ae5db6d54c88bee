"""The audit log: an append-only record of every state change, who made it, from where, and how it ended.

Writers call ``AuditLog.record``; changes that live in the alert history (acknowledgement,
escalation, resend) write their entry with ``SqlAuditLog.write`` on the change's own connection,
so the entry commits or rolls back with the change. The table refuses UPDATE and DELETE (a
trigger, both dialects); only ``purge`` may delete, and only entries older than its cutoff
(see docs/security.md, "Audit log").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from receiver.store.database import PostgresDatabase, SqliteDatabase

# What happened: one name per kind of state change.
ACKNOWLEDGE = "alert.acknowledge"
ESCALATE = "alert.escalate"
RESEND = "alert.resend"
VERIFY_REPAIR = "verify.repair"
KEY_CREATE = "key.create"
KEY_REVOKE = "key.revoke"
CONFIG_RELOAD = "config.reload"
BACKUP = "backup"
RESTORE = "restore"

# How it ended.
SUCCESS = "success"
DENIED = "denied"  # refused for lack of a role
FAILED = "failed"  # attempted, and the change did not happen
OUTCOMES = (SUCCESS, DENIED, FAILED)

SYSTEM = "system"  # the actor of changes the receiver makes by itself (escalations)
DETAIL_LIMIT = 2000


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float  # seconds since the epoch, UTC
    actor: str  # an API key id, "system", or "cli:<user>"
    action: str
    target: str  # what was changed: "alert:42", "key:ab12cd34", a file path
    source: str  # where from: the client address, "cli", "worker"
    outcome: str
    detail: str


@dataclass(frozen=True)
class AuditContext:
    """Who asks for a change and from where, passed down to the repository that makes it."""

    actor: str
    source: str


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    after_id: int | None = None  # keyset pagination, newest first


class AuditLog(Protocol):
    def record(self, actor_key_id: str, action: str, target: str, source: str, outcome: str, detail: str = "") -> None:
        """Append one entry, in its own transaction."""
        ...

    def entries(self, query: AuditFilter) -> list[AuditEntry]: ...

    def purge(self, before: float, batch: int = 1000) -> int:
        """Delete up to ``batch`` of the oldest entries older than ``before``; return how many."""
        ...


class SqlAuditLog:
    """The audit log in the alert-history database (schema version 6)."""

    def __init__(self, database: PostgresDatabase | SqliteDatabase, clock: Callable[[], float]) -> None:
        self._db = database
        self._clock = clock
        self._postgres = isinstance(database, PostgresDatabase)

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    def write(
        self, conn: Any, actor: str, action: str, target: str, source: str, outcome: str, detail: str = ""
    ) -> None:
        """Append on ``conn``: the entry commits with the caller's transaction."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome: expected one of {', '.join(OUTCOMES)}")
        conn.execute(
            self._sql(
                "INSERT INTO audit_log (at, actor, action, target, source, outcome, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ),
            (self._clock(), actor[:200], action, target[:200], source[:200], outcome, detail[:DETAIL_LIMIT]),
        )

    def record(self, actor_key_id: str, action: str, target: str, source: str, outcome: str, detail: str = "") -> None:
        with self._db.connect() as conn:
            self.write(conn, actor_key_id, action, target, source, outcome, detail)

    def entries(self, query: AuditFilter) -> list[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("actor", query.actor), ("action", query.action), ("outcome", query.outcome)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        bounds: tuple[tuple[str, float | None], ...] = (
            ("at >= %s", query.since),
            ("at < %s", query.until),
            ("id < %s", query.after_id),
        )
        for clause, bound in bounds:
            if bound is not None:
                clauses.append(clause)
                params.append(bound)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._db.connect() as conn:
            rows: Sequence[Sequence[Any]] = conn.execute(
                self._sql(
                    "SELECT id, at, actor, action, target, source, outcome, detail FROM audit_log"  # noqa: S608 - constant fragments
                    f"{where} ORDER BY id DESC LIMIT %s"
                ),
                [*params, query.limit],
            ).fetchall()
        return [AuditEntry(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def purge(self, before: float, batch: int = 1000) -> int:
        conn: Any
        with self._db.connect() as conn:
            if self._postgres:
                row = conn.execute("SELECT audit_log_purge(%s, %s)", (before, batch)).fetchone()
                return int(row[0])
            # SQLite's single writer: the window row is visible to this transaction only, and gone at commit.
            conn.execute("INSERT INTO audit_purge_window (before) VALUES (?)", (before,))
            deleted = conn.execute(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY id LIMIT ?)",
                (before, batch),
            ).rowcount
            conn.execute("DELETE FROM audit_purge_window")
            return int(deleted)


def purge_expired(
    log: AuditLog, now: float, retention_seconds: float, batch: int = 1000, max_batches: int = 100
) -> int:
    """Delete entries older than the alert retention (RETENTION_ALERTS), a batch per transaction, so that
    a large backlog never holds one long lock; at most ``max_batches`` per call. Returns how many went."""
    return purge_before(log, now - retention_seconds, batch, max_batches)


def purge_before(log: AuditLog, cutoff: float, batch: int = 1000, max_batches: int = 100) -> int:
    """``purge_expired`` for a cutoff already computed (the alert-history retention job passes its own)."""
    total = 0
    for _ in range(max_batches):
        deleted = log.purge(cutoff, batch)
        total += deleted
        if deleted < batch:
            break
    return total
