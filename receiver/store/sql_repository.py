"""The SQL plumbing the alert-history repositories share: one database, two dialects.

PostgreSQL and SQLite differ only in placeholders, the auto-increment key, and how rows are
locked (``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL; SQLite serialises writers with
``BEGIN IMMEDIATE``). Also the schema migrations and the alert row's mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from monitoring.tracing import current_traceparent
from receiver.store.audit import SqlAuditLog
from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import (
    AlertRecord,
    NewJob,
)
from receiver.store.incidents import Correlator
from receiver.store.migrations import INCIDENT_SCHEMA, MIGRATIONS, TRACEPARENT_SCHEMA, SqliteRebuild

ALERT_COLUMNS = (
    "id, fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, labels, "
    "annotations, generator_url, first_seen, last_seen, resolved_at, acked_at, acked_by, escalations"
)
ACTIVE_STATES = "('pending', 'sending')"


def alert_from_row(row: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        id=int(row[0]),
        fingerprint=row[1],
        starts_at=float(row[2]),
        alertname=row[3],
        status=row[4],
        priority=row[5],
        priority_defaulted=bool(row[6]),
        service=row[7],
        labels=json.loads(row[8]),
        annotations=json.loads(row[9]),
        generator_url=row[10],
        first_seen=float(row[11]),
        last_seen=float(row[12]),
        resolved_at=row[13],
        acked_at=row[14],
        acked_by=row[15],
        escalations=int(row[16]),
    )


class SqlRepository:
    """``events``: the domain-event outbox that ``record`` writes to in the alert's own
    transaction (None: no domain events); ``traceparent`` gives the trace context they carry;
    ``audit_log``: where acknowledgements and escalations are audit-logged, in their transaction;
    ``correlator``: the incident rules (None: incidents off, every alert pages on its own)."""

    def __init__(
        self,
        database: PostgresDatabase | SqliteDatabase,
        events: SqlEventOutbox | None = None,
        traceparent: Callable[[], str | None] = current_traceparent,
        audit_log: SqlAuditLog | None = None,
        *,
        stale_firing_grace: float = 60.0,
        correlator: Correlator | None = None,
    ) -> None:
        self._db = database
        self._correlator = correlator
        self._stale_firing_grace = stale_firing_grace
        self._audit = audit_log
        self._events = events
        self._traceparent = traceparent
        self._postgres = isinstance(database, PostgresDatabase)
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if self._postgres else ""
        self._for_update = " FOR UPDATE" if self._postgres else ""
        # Jobs keep their traceparent from schema version 5 on; until ``migrate`` says otherwise, it is there.
        self._traced_jobs = True
        self._incident_schema = True  # likewise the incident columns, from version 11

    # --- plumbing ---

    def _tx(self) -> AbstractContextManager[Any]:
        return self._db.connect()

    def _pipelined(self) -> AbstractContextManager[Any]:
        """PostgreSQL: a transaction in pipeline mode (``PostgresDatabase.pipeline``)."""
        assert isinstance(self._db, PostgresDatabase)
        return self._db.pipeline()

    def _write(self) -> AbstractContextManager[Any]:
        """A transaction whose statements need no answer before the commit: on PostgreSQL they go
        out together with ``BEGIN`` and ``COMMIT``, one round trip (``PostgresDatabase.pipeline``)."""
        return self._db.pipeline() if isinstance(self._db, PostgresDatabase) else self._db.connect()

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    def _run(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(text), params)

    def _many(self, conn: Any, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            conn.cursor().executemany(self._sql(text), rows)

    def _values(self, conn: Any, head: str, types: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = "") -> Any:
        """Insert many rows in one statement, one round trip. PostgreSQL gets one array per column
        (``unnest``: a short, cacheable statement), sent in binary (text arrays would quote every
        element); SQLite a multi-row ``VALUES``."""
        if self._postgres:
            arrays = ", ".join(f"%b::{t}[]" for t in types)
            columns = [list(column) for column in zip(*rows, strict=True)]
            return conn.cursor().execute(f"{head} SELECT * FROM unnest({arrays}){tail}", columns, binary=True)  # noqa: S608 - placeholders only
        values = ", ".join(["(" + ", ".join(["%s"] * len(types)) + ")"] * len(rows))
        return self._run(conn, f"{head} VALUES {values}{tail}", [v for row in rows for v in row])

    def _timeline(self, conn: Any, rows: Sequence[tuple[int, float, str, str | None, str | None, str]]) -> None:
        if rows:
            types = ("int8", "float8", "text", "text", "text", "text")
            self._values(conn, "INSERT INTO timeline (alert_id, at, kind, channel, actor, detail)", types, rows)

    def _jobs(self, conn: Any, rows: Sequence[tuple[int, NewJob]], now: float) -> None:
        if not rows:
            return
        traced = (current_traceparent(),) if self._traced_jobs else ()
        incident = any(j.incident is not None for _, j in rows)  # only then: schemas before 11 lack the column
        self._values(
            conn,
            "INSERT INTO outbox (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, "
            f"next_attempt_at{', traceparent' if traced else ''}{', incident_id' if incident else ''})",
            ("int8", "text", "text", "text", "int4", "int4", "bool", "float8", "float8")
            + ("text",) * len(traced)
            + ("int8",) * incident,
            [
                (
                    alert_id,
                    j.channel,
                    j.action,
                    "pending",
                    0,
                    j.max_attempts,
                    j.fallback,
                    now,
                    j.not_before or now,
                    *traced,
                    *((j.incident,) if incident else ()),
                )
                for alert_id, j in rows
            ],
        )

    # --- schema ---

    def migrate(self, target: int | None = None) -> int:
        """Apply every migration not yet applied, in version order (versions are assigned per issue
        and may land out of order: a gap filled later is applied then, not skipped)."""
        key = "BIGSERIAL PRIMARY KEY" if self._postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self._tx() as conn:
            if self._postgres:
                conn.execute("SELECT pg_advisory_xact_lock(7243001)")  # one migrator at a time
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
            for migration in MIGRATIONS:
                if migration.version in applied or (target is not None and migration.version > target):
                    continue
                for statement in migration.for_dialect(self._postgres):
                    if isinstance(statement, SqliteRebuild):
                        self._rebuild(conn, statement)
                    else:
                        conn.execute(statement.replace("{id}", key))
                self._run(
                    conn,
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (%s, %s, 0)",
                    (migration.version, migration.description),
                )
                applied.add(migration.version)
            self._traced_jobs = TRACEPARENT_SCHEMA in applied
            self._incident_schema = INCIDENT_SCHEMA in applied
            return max(applied, default=0)

    @staticmethod
    def _rebuild(conn: Any, step: SqliteRebuild) -> None:
        table = step.table
        rows = conn.execute(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
        ).fetchall()
        [definition] = [sql for kind, sql in rows if kind == "table"]
        if step.old not in definition:
            raise RuntimeError(f"cannot rebuild {table}: {step.old!r} not in its definition")
        renamed = re.sub(rf'^CREATE TABLE\s+("?){table}\1', f"CREATE TABLE {table}_rebuilt", definition, count=1)
        conn.execute(renamed.replace(step.old, step.new))
        conn.execute(f"INSERT INTO {table}_rebuilt SELECT * FROM {table}")  # noqa: S608 - names from code
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
        for kind, sql in rows:
            if kind in ("index", "trigger"):
                conn.execute(sql)
