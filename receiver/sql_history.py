"""The alert history in SQL: one implementation for PostgreSQL and SQLite.

The two differ only in placeholders, the auto-increment key, and how jobs are claimed:
PostgreSQL uses ``SELECT ... FOR UPDATE SKIP LOCKED`` so several workers and instances
claim disjoint jobs; SQLite serialises writers (``BEGIN IMMEDIATE``), which gives the same
guarantee for the processes sharing the file.

Every notification job stores the ``traceparent`` of the span that queued it (the webhook's
history write, an acknowledgement, an escalation), so its delivery continues that trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from monitoring.cloudevents import CloudEvent
from monitoring.tracing import current_traceparent
from receiver import alert_events, audit
from receiver.audit import AuditContext, SqlAuditLog
from receiver.database import PostgresDatabase, SqliteDatabase
from receiver.event_outbox import SqlEventOutbox
from receiver.history import (
    AlertFilter,
    AlertNotFound,
    AlertRecord,
    DueEscalation,
    Job,
    NewJob,
    Observation,
    OutboxStats,
    RecordOutcome,
    SwitchState,
    TimelineEntry,
)
from receiver.migrations import MIGRATIONS, TRACEPARENT_SCHEMA
from receiver.routing import DIGEST

_ALERT_COLUMNS = (
    "id, fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, labels, "
    "annotations, generator_url, first_seen, last_seen, resolved_at, acked_at, acked_by, escalations"
)
_ACTIVE = "('pending', 'sending')"


def _alert(row: Sequence[Any]) -> AlertRecord:
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


def _action(obs: Observation) -> str:
    return "trigger" if obs.status == "firing" else "resolve"


def _job(obs: Observation, channel: str, action: str) -> NewJob:
    return NewJob(channel, action, obs.retry_budget, not_before=obs.digest_at if channel == DIGEST else None)


def _received(obs: Observation) -> str:
    flag = " (priority label missing or unknown: treated as high)" if obs.priority_defaulted else ""
    return f"{obs.status}, priority {obs.priority}{flag}"


class SqlAlertHistory:
    """``events``: the domain-event outbox that ``record`` writes to in the alert's own
    transaction (None: no domain events); ``traceparent`` gives the trace context they carry;
    ``audit_log``: where acknowledgements and escalations are audit-logged, in their transaction."""

    def __init__(
        self,
        database: PostgresDatabase | SqliteDatabase,
        events: SqlEventOutbox | None = None,
        traceparent: Callable[[], str | None] = current_traceparent,
        audit_log: SqlAuditLog | None = None,
    ) -> None:
        self._db = database
        self._audit = audit_log
        self._events = events
        self._traceparent = traceparent
        self._postgres = isinstance(database, PostgresDatabase)
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if self._postgres else ""
        self._for_update = " FOR UPDATE" if self._postgres else ""
        # Jobs keep their traceparent from schema version 5 on; until ``migrate`` says otherwise, it is there.
        self._traced_jobs = True

    # --- plumbing ---

    def _tx(self) -> AbstractContextManager[Any]:
        return self._db.connect()

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    def _run(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(text), params)

    def _many(self, conn: Any, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            conn.cursor().executemany(self._sql(text), rows)

    def _values(self, conn: Any, head: str, types: Sequence[str], rows: Sequence[Sequence[Any]], tail: str = "") -> Any:
        """Insert many rows in one statement, one round trip. PostgreSQL gets one array per column
        (``unnest``: a short, cacheable statement); SQLite a multi-row ``VALUES``."""
        if self._postgres:
            arrays = ", ".join(f"%s::{t}[]" for t in types)
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
        self._values(
            conn,
            "INSERT INTO outbox (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, "
            f"next_attempt_at{', traceparent' if traced else ''})",
            ("int8", "text", "text", "text", "int4", "int4", "bool", "float8", "float8") + ("text",) * len(traced),
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
                )
                for alert_id, j in rows
            ],
        )

    # --- schema ---

    def migrate(self, target: int | None = None) -> int:
        key = "BIGSERIAL PRIMARY KEY" if self._postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self._tx() as conn:
            if self._postgres:
                conn.execute("SELECT pg_advisory_xact_lock(7243001)")  # one migrator at a time
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]
            for migration in MIGRATIONS:
                if migration.version <= current or (target is not None and migration.version > target):
                    continue
                for statement in migration.for_dialect(self._postgres):
                    conn.execute(statement.replace("{id}", key))
                self._run(
                    conn,
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (%s, %s, 0)",
                    (migration.version, migration.description),
                )
                current = migration.version
            self._traced_jobs = current >= TRACEPARENT_SCHEMA
            return int(current)

    # --- intake ---

    def record(self, observations: Sequence[Observation], now: float) -> RecordOutcome:
        unique = {(o.fingerprint, o.starts_at): o for o in observations}
        if not unique:
            return RecordOutcome(0, 0, 0)
        with self._tx() as conn:
            # New alerts (the common case) cost one statement; only the others are read back, locked.
            inserted = self._insert(conn, list(unique.values()), now)
            known = sorted({key[0] for key in unique if key not in inserted})
            existing = self._existing(conn, ", ".join(["%s"] * len(known)), known) if known else {}
            jobs: list[tuple[int, NewJob]] = []
            timeline: list[tuple[int, float, str, str | None, str | None, str]] = []
            seen: list[tuple[float, int]] = []
            new_jobs = 0
            fresh_jobs: list[tuple[int, NewJob]] = []
            events: list[CloudEvent] = []  # the domain events of what this webhook changed
            emit = self._events is not None
            trace = self._traceparent() if emit else None
            for key, obs in unique.items():
                if key in inserted:
                    new_jobs += len(obs.channels)
                    if emit and obs.status == "firing":
                        events.extend(alert_events.fired(inserted[key], obs, trace))
                    elif emit:
                        resolved_at = obs.ends_at if obs.ends_at is not None else now
                        events.append(alert_events.resolved(inserted[key], obs, resolved_at, trace))
                    if not self._postgres:  # PostgreSQL wrote them in the same statement as the alert
                        alert_id = inserted[key]
                        timeline.append((alert_id, now, "received", None, None, _received(obs)))
                        fresh_jobs.extend((alert_id, _job(obs, c, _action(obs))) for c in obs.channels)
                    continue
                alert_id, status, content_hash = existing[key]
                if status == "firing" and obs.status == "resolved":
                    resolved_at = obs.ends_at if obs.ends_at is not None else now
                    self._run(
                        conn,
                        "UPDATE alerts SET status = 'resolved', resolved_at = %s, last_seen = %s, escalate_at = NULL "
                        "WHERE id = %s",
                        (resolved_at, now, alert_id),
                    )
                    timeline.append((alert_id, now, "resolved", None, None, "resolved by Alertmanager"))
                    jobs.extend((alert_id, _job(obs, c, "resolve")) for c in obs.channels)
                    if emit:
                        events.append(alert_events.resolved(alert_id, obs, resolved_at, trace))
                elif obs.status == "firing" and (status == "resolved" or content_hash != obs.content_hash):
                    self._run(
                        conn,
                        "UPDATE alerts SET status = 'firing', resolved_at = NULL, labels = %s, annotations = %s, "
                        "content_hash = %s, last_seen = %s, "
                        # firing again after a resolve: the acknowledgement deadline runs again
                        "escalate_at = CASE WHEN acked_at IS NULL THEN COALESCE(escalate_at, %s) END WHERE id = %s",
                        (
                            json.dumps(obs.labels),
                            json.dumps(obs.annotations),
                            obs.content_hash,
                            now,
                            None if obs.ack_deadline is None else now + obs.ack_deadline,
                            alert_id,
                        ),
                    )
                    timeline.append((alert_id, now, "changed", None, None, "labels, annotations or status changed"))
                    jobs.extend((alert_id, _job(obs, c, "trigger")) for c in obs.channels)
                else:
                    seen.append((now, alert_id))
            self._many(conn, "UPDATE alerts SET last_seen = %s WHERE id = %s", seen)
            self._timeline(conn, timeline)
            self._jobs(conn, fresh_jobs + jobs, now)
            if self._events is not None:
                self._events.add(conn, events, now)
        return RecordOutcome(new=len(inserted), updated=len(unique) - len(inserted), jobs=new_jobs + len(jobs))

    def _existing(
        self, conn: Any, marks: str, fingerprints: list[str]
    ) -> dict[tuple[str, float], tuple[int, str, str]]:
        rows = self._run(
            conn,
            f"SELECT id, fingerprint, starts_at, status, content_hash FROM alerts WHERE fingerprint IN ({marks})"  # noqa: S608 - only constant fragments and placeholders are interpolated
            f"{self._for_update}",
            fingerprints,
        ).fetchall()
        return {(r[1], float(r[2])): (int(r[0]), r[3], r[4]) for r in rows}

    _ALERT_INSERT = (
        "INSERT INTO alerts (fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, "
        "labels, annotations, content_hash, generator_url, first_seen, last_seen, resolved_at, escalate_at)"
    )
    _ALERT_TYPES = ("text", "float8", "text", "text", "text", "bool", "text", "text", "text", "text", "text") + (
        "float8",
    ) * 4

    def _insert(self, conn: Any, fresh: Sequence[Observation], now: float) -> dict[tuple[str, float], int]:
        """Insert new alerts; return the ids of those this transaction created.

        On PostgreSQL one statement also writes their "received" timeline entries and their
        notification jobs (data-modifying CTEs): a webhook of new alerts is one round trip.
        """
        rows = [
            (
                obs.fingerprint,
                obs.starts_at,
                obs.alertname,
                obs.status,
                obs.priority,
                obs.priority_defaulted,
                obs.service,
                json.dumps(obs.labels),
                json.dumps(obs.annotations),
                obs.content_hash,
                obs.generator_url,
                now,
                now,
                None if obs.status == "firing" else (obs.ends_at if obs.ends_at is not None else now),
                now + obs.ack_deadline if obs.ack_deadline is not None and obs.status == "firing" else None,
            )
            for obs in fresh
        ]
        conflict = " ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id, fingerprint, starts_at"
        if not self._postgres:
            created = self._values(conn, self._ALERT_INSERT, self._ALERT_TYPES, rows, conflict).fetchall()
            return {(r[1], float(r[2])): int(r[0]) for r in created}
        traceparent = current_traceparent()
        extra = [
            (",".join(o.channels), _action(o), o.retry_budget, _received(o), o.digest_at, traceparent) for o in fresh
        ]
        columns = [list(c) for c in zip(*[r + e for r, e in zip(rows, extra, strict=True)], strict=True)]
        types = (*self._ALERT_TYPES, "text", "text", "int4", "text", "float8", "text")
        traced_column, traced_value = (", traceparent", ", input.traceparent") if self._traced_jobs else ("", "")
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        created = (
            conn.cursor()
            .execute(
                f"WITH input AS (SELECT * FROM unnest({arrays}) AS i(fingerprint, starts_at, alertname, status, "  # noqa: S608 - placeholders only
                " priority, priority_defaulted, service, labels, annotations, content_hash, generator_url, first_seen,"
                " last_seen, resolved_at, escalate_at, channels, action, budget, detail, digest_at, traceparent)),"
                f" new AS ({self._ALERT_INSERT} SELECT fingerprint, starts_at, alertname, status, priority,"
                " priority_defaulted, service, labels, annotations, content_hash, generator_url, first_seen, last_seen,"
                f" resolved_at, escalate_at FROM input{conflict}),"
                " received AS (INSERT INTO timeline (alert_id, at, kind, detail)"
                "  SELECT new.id, input.first_seen, 'received', input.detail FROM new JOIN input USING (fingerprint,"
                "  starts_at)),"
                " queued AS (INSERT INTO outbox (alert_id, channel, action, state, attempts, max_attempts, fallback,"
                f"  created_at, next_attempt_at{traced_column})"
                "  SELECT new.id, ch.channel, input.action, 'pending', 0, input.budget, false, input.first_seen,"
                f"  CASE WHEN ch.channel = '{DIGEST}' THEN COALESCE(input.digest_at, input.first_seen)"
                f"  ELSE input.first_seen END{traced_value} FROM new JOIN input USING (fingerprint, starts_at)"
                "  CROSS JOIN LATERAL unnest(string_to_array(input.channels, ',')) WITH ORDINALITY AS ch(channel, n)"
                "  ORDER BY new.id, ch.n)"
                " SELECT id, fingerprint, starts_at FROM new",
                columns,
                binary=True,
            )
            .fetchall()
        )
        return {(r[1], float(r[2])): int(r[0]) for r in created}

    # --- the outbox ---

    def claim(self, now: float, lease: float, limit: int, *, digest: bool = False) -> list[Job]:
        with self._tx() as conn:
            claimed = self._run(
                conn,
                "UPDATE outbox SET state = 'sending', lease_until = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608 - only constant fragments and placeholders are interpolated
                " SELECT o.id FROM outbox o WHERE ((o.state = 'pending' AND o.next_attempt_at <= %s)"
                "  OR (o.state = 'sending' AND o.lease_until <= %s))"
                f"  AND o.channel {'=' if digest else '<>'} '{DIGEST}'"
                f"  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.alert_id = o.alert_id AND e.channel = o.channel"
                f"   AND e.id < o.id AND e.state IN {_ACTIVE})"
                f" ORDER BY o.next_attempt_at, o.id LIMIT %s{self._skip_locked}"
                ") RETURNING id, alert_id, channel, action, attempts, max_attempts, fallback, created_at"
                f"{', traceparent' if self._traced_jobs else ''}",
                (now + lease, now, now, limit),
            ).fetchall()
            if not claimed:
                return []
            alert_ids = sorted({int(r[1]) for r in claimed})
            marks = ", ".join(["%s"] * len(alert_ids))
            alerts = {
                a.id: a
                for a in map(
                    _alert,
                    self._run(conn, f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id IN ({marks})", alert_ids),  # noqa: S608 - only constant fragments and placeholders are interpolated
                )
            }
        return sorted(
            (
                Job(
                    id=int(r[0]),
                    channel=r[2],
                    action=r[3],
                    attempts=int(r[4]),
                    max_attempts=int(r[5]),
                    fallback=bool(r[6]),
                    created_at=float(r[7]),
                    alert=alerts[int(r[1])],
                    traceparent=r[8] if len(r) > 8 else None,
                )
                for r in claimed
            ),
            key=lambda j: j.id,
        )

    def delivered(self, job: Job, now: float) -> None:
        with self._tx() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'delivered', delivered_at = %s, lease_until = NULL WHERE id = %s",
                (now, job.id),
            )
            self._timeline(conn, [(job.alert.id, now, "notified", job.channel, None, self._describe(job))])

    def retry_later(self, job: Job, at: float, error: str, now: float) -> None:
        with self._tx() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'pending', next_attempt_at = %s, lease_until = NULL, last_error = %s "
                "WHERE id = %s",
                (at, error, job.id),
            )
            detail = f"{self._describe(job)} attempt {job.attempts} failed: {error}; retry at {at:.3f}"
            self._timeline(conn, [(job.alert.id, now, "delivery_failed", job.channel, None, detail)])

    def dead_letter(self, job: Job, error: str, now: float, fallback: NewJob | None) -> None:
        with self._tx() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'dead', lease_until = NULL, last_error = %s WHERE id = %s",
                (error, job.id),
            )
            detail = f"{self._describe(job)} dead-lettered after {job.attempts} attempts: {error}"
            self._timeline(conn, [(job.alert.id, now, "dead_letter", job.channel, None, detail)])
            if fallback is not None:
                self._jobs(conn, [(job.alert.id, fallback)], now)

    @staticmethod
    def _describe(job: Job) -> str:
        return f"{job.action}{' (fallback)' if job.fallback else ''}"

    # --- acknowledgement and escalation ---

    def acknowledge(
        self,
        alert_id: int,
        who: str,
        comment: str,
        now: float,
        pages: NewJob | None = None,
        *,
        audit_context: AuditContext | None = None,
    ) -> AlertRecord:
        with self._tx() as conn:
            row = self._run(
                conn,
                "UPDATE alerts SET acked_at = COALESCE(acked_at, %s), acked_by = COALESCE(acked_by, %s), "  # noqa: S608 - constant columns
                f"escalate_at = NULL WHERE id = %s RETURNING {_ALERT_COLUMNS}",
                (now, who, alert_id),
            ).fetchone()
            if row is None:
                raise AlertNotFound(alert_id)
            alert = _alert(row)
            self._timeline(conn, [(alert_id, now, "acknowledged", None, who, comment)])
            if self._audit is not None and audit_context is not None:
                self._audit.write(
                    conn,
                    audit_context.actor,
                    audit.ACKNOWLEDGE,
                    f"alert:{alert_id}",
                    audit_context.source,
                    audit.SUCCESS,
                    f"as {who}: {comment}",
                )
            first = alert.acked_at == now and alert.acked_by == who
            if first and pages is not None and alert.status == "firing":
                paged = self._run(
                    conn,
                    "SELECT 1 FROM outbox WHERE alert_id = %s AND channel = %s AND action IN ('trigger', 'escalate') "
                    "LIMIT 1",
                    (alert_id, pages.channel),
                ).fetchone()
                if paged is not None:
                    self._jobs(conn, [(alert_id, pages)], now)
        return alert

    def due_escalations(self, now: float, limit: int) -> list[DueEscalation]:
        with self._tx() as conn:
            rows = self._run(
                conn,
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE status = 'firing' AND acked_at IS NULL "  # noqa: S608 - only constant fragments and placeholders are interpolated
                "AND escalate_at <= %s ORDER BY escalate_at LIMIT %s",
                (now, limit),
            ).fetchall()
        return [DueEscalation(alert, alert.escalations) for alert in map(_alert, rows)]

    def escalate(self, due: DueEscalation, jobs: Sequence[NewJob], next_at: float, now: float) -> bool:
        with self._tx() as conn:
            cursor = self._run(
                conn,
                "UPDATE alerts SET escalations = escalations + 1, escalate_at = %s "
                "WHERE id = %s AND escalations = %s AND status = 'firing' AND acked_at IS NULL",
                (next_at, due.alert.id, due.escalations),
            )
            if cursor.rowcount != 1:
                return False
            channels = ", ".join(j.channel for j in jobs) or "no channel"
            detail = f"escalation {due.escalations + 1}: not acknowledged in time; re-sent on {channels}"
            self._timeline(conn, [(due.alert.id, now, "escalated", None, None, detail)])
            if self._audit is not None:
                self._audit.write(
                    conn, audit.SYSTEM, audit.ESCALATE, f"alert:{due.alert.id}", "worker", audit.SUCCESS, detail
                )
            self._jobs(conn, [(due.alert.id, j) for j in jobs], now)
        return True

    # --- the dead man's switch (one row, see receiver/deadmans_switch.py) ---

    def switch_state(self) -> SwitchState:
        with self._tx() as conn:
            row = self._run(conn, "SELECT last_seen, episode_alert_id FROM deadmans_switch WHERE id = 1").fetchone()
        return SwitchState(
            last_seen=None if row[0] is None else float(row[0]),
            episode_alert_id=None if row[1] is None else int(row[1]),
        )

    def watchdog_seen(self, now: float) -> int | None:
        with self._tx() as conn:
            row = self._run(
                conn,
                f"SELECT episode_alert_id FROM deadmans_switch WHERE id = 1{self._for_update}",  # noqa: S608 - constant fragments
            ).fetchone()
            episode = None if row[0] is None else int(row[0])
            self._run(
                conn,
                "UPDATE deadmans_switch SET episode_alert_id = NULL, "
                "last_seen = CASE WHEN last_seen IS NULL OR last_seen < %s THEN %s ELSE last_seen END WHERE id = 1",
                (now, now),
            )
            if episode is None:
                return None
            self._run(
                conn,
                "UPDATE alerts SET status = 'resolved', resolved_at = %s, last_seen = %s, escalate_at = NULL "
                "WHERE id = %s",
                (now, now, episode),
            )
            self._timeline(conn, [(episode, now, "resolved", None, None, "Watchdog arrived again")])
            self._run(
                conn,
                "INSERT INTO outbox (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, "  # noqa: S608 - only constant fragments and placeholders are interpolated
                f"next_attempt_at{', traceparent' if self._traced_jobs else ''}) SELECT alert_id, channel, 'resolve', "
                f"'pending', 0, max_attempts, fallback, %s, %s{', %s' if self._traced_jobs else ''} FROM outbox "
                "WHERE alert_id = %s AND action = 'trigger' ORDER BY id",
                (now, now, current_traceparent(), episode) if self._traced_jobs else (now, now, episode),
            )
        return episode

    def open_silence(self, episode: Observation, expected_last_seen: float | None, now: float) -> int | None:
        with self._tx() as conn:
            # The compare-and-set: PostgreSQL's row lock makes a concurrent claim wait, then see ours.
            claimed = self._run(
                conn,
                "UPDATE deadmans_switch SET episode_alert_id = NULL WHERE id = 1 AND episode_alert_id IS NULL "
                "AND COALESCE(last_seen, -1) = %s",
                (-1.0 if expected_last_seen is None else expected_last_seen,),
            )
            if claimed.rowcount != 1:
                return None
            inserted = self._insert(conn, [episode], now)
            alert_id = inserted[(episode.fingerprint, episode.starts_at)]
            if not self._postgres:  # PostgreSQL wrote them in the same statement as the alert
                self._timeline(conn, [(alert_id, now, "received", None, None, _received(episode))])
                self._jobs(conn, [(alert_id, _job(episode, c, "trigger")) for c in episode.channels], now)
            self._run(conn, "UPDATE deadmans_switch SET episode_alert_id = %s WHERE id = 1", (alert_id,))
        return alert_id

    # --- queries ---

    def alerts(self, query: AlertFilter) -> list[AlertRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("status", query.status), ("priority", query.priority), ("service", query.service)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if query.since is not None:
            clauses.append("first_seen >= %s")
            params.append(query.since)
        if query.until is not None:
            clauses.append("first_seen < %s")
            params.append(query.until)
        if query.after_id is not None:
            clauses.append("id < %s")
            params.append(query.after_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._tx() as conn:
            rows = self._run(
                conn,
                f"SELECT {_ALERT_COLUMNS} FROM alerts{where} ORDER BY id DESC LIMIT %s",  # noqa: S608 - constant fragments
                [*params, query.limit],
            ).fetchall()
        return [_alert(r) for r in rows]

    def alert(self, alert_id: int) -> tuple[AlertRecord, list[TimelineEntry]]:
        with self._tx() as conn:
            row = self._run(conn, f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,)).fetchone()  # noqa: S608 - only constant fragments and placeholders are interpolated
            if row is None:
                raise AlertNotFound(alert_id)
            entries = self._run(
                conn,
                "SELECT at, kind, channel, actor, detail FROM timeline WHERE alert_id = %s ORDER BY id",
                (alert_id,),
            ).fetchall()
        return _alert(row), [TimelineEntry(float(e[0]), e[1], e[2], e[3], e[4]) for e in entries]

    def outbox_stats(self, now: float) -> OutboxStats:
        with self._tx() as conn:
            # A digest job waits for its digest time by design: it is late only from then on.
            pending, oldest = self._run(
                conn,
                f"SELECT COUNT(*), MIN(CASE WHEN channel <> '{DIGEST}' THEN created_at "  # noqa: S608 - only constant fragments and placeholders are interpolated
                f"WHEN next_attempt_at <= %s THEN next_attempt_at END) FROM outbox WHERE state IN {_ACTIVE}",
                (now,),
            ).fetchone()
            dead = self._run(conn, "SELECT COUNT(*) FROM outbox WHERE state = 'dead'").fetchone()[0]
            delivered = self._run(
                conn, "SELECT channel, COUNT(*) FROM outbox WHERE state = 'delivered' GROUP BY channel"
            ).fetchall()
        return OutboxStats(
            pending=int(pending),
            oldest_pending_age=0.0 if oldest is None else max(0.0, now - float(oldest)),
            dead=int(dead),
            delivered_by_channel={str(c): int(n) for c, n in delivered},
        )

    def jobs_by_state(self) -> Iterator[tuple[str, str, str, int]]:
        """(channel, action, state, attempts) of every job, oldest first: for tests and operators."""
        with self._tx() as conn:
            rows = conn.execute("SELECT channel, action, state, attempts FROM outbox ORDER BY id").fetchall()
        for row in rows:
            yield str(row[0]), str(row[1]), str(row[2]), int(row[3])
