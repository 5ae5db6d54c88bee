"""What ``monitoring verify`` reads and repairs, and what ``monitoring resend`` re-queues, in the
receiver's own tables. Each repair is one guarded statement in its own transaction: it changes a
row only while the row is still in the state that was found, so a live worker racing the repair wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from receiver.config.routing import DIGEST
from receiver.store.audit import RESEND, SUCCESS, SqlAuditLog
from receiver.store.database import PostgresDatabase, SqliteDatabase


class OpenAlert(NamedTuple):
    id: int
    fingerprint: str
    alertname: str
    last_seen: float


class StuckJob(NamedTuple):
    id: int
    alert_id: int
    channel: str
    action: str
    at: float  # when its lease ended (sending) or when it was due (pending)


class UnrelayedEvent(NamedTuple):
    seq: int
    id: str
    type: str
    claimed_by: str | None
    lease_until: float | None
    attempts: int


class StoredEvent(NamedTuple):
    seq: int
    id: str
    type: str


class Repairs:
    """Reads and guarded repairs over the alert history, the outbox and the domain-event outbox."""

    def __init__(self, database: PostgresDatabase | SqliteDatabase) -> None:
        self._db = database

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._db.connect() as conn:
            yield conn

    def _sql(self, text: str) -> str:
        return text.replace("%s", "?") if self._db.dialect == "sqlite" else text

    def _change(self, text: str, params: tuple[object, ...]) -> bool:
        with self._tx() as conn:
            return bool(conn.execute(self._sql(text), params).rowcount)

    # --- alerts ---

    def open_alerts(self) -> list[OpenAlert]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, fingerprint, alertname, last_seen FROM alerts WHERE status = 'firing'"
            ).fetchall()
        return [OpenAlert(int(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in rows]

    def resolve_stale(self, alert_id: int, now: float, detail: str) -> bool:
        """Mark a firing alert resolved, with a timeline entry saying why; no notification is queued."""
        with self._tx() as conn:
            changed = conn.execute(
                self._sql(
                    "UPDATE alerts SET status = 'resolved', resolved_at = %s, escalate_at = NULL "
                    "WHERE id = %s AND status = 'firing'"
                ),
                (now, alert_id),
            ).rowcount
            if changed:
                conn.execute(
                    self._sql(
                        "INSERT INTO timeline (alert_id, at, kind, channel, actor, detail) "
                        "VALUES (%s, %s, 'resolved', NULL, 'monitoring verify', %s)"
                    ),
                    (alert_id, now, detail),
                )
        return bool(changed)

    # --- notification outbox ---

    def expired_leases(self, cutoff: float) -> list[StuckJob]:
        """Jobs claimed for sending whose lease ended before ``cutoff``: their worker died mid-send."""
        return self._jobs(
            "SELECT id, alert_id, channel, action, lease_until FROM outbox "
            "WHERE state = 'sending' AND lease_until < %s ORDER BY id",
            (cutoff,),
        )

    def overdue_jobs(self, cutoff: float) -> list[StuckJob]:
        """Pending jobs due before ``cutoff`` and not sent (the e-mail digest waits by design)."""
        return self._jobs(
            "SELECT id, alert_id, channel, action, next_attempt_at FROM outbox "
            "WHERE state = 'pending' AND next_attempt_at < %s AND channel <> %s ORDER BY id",
            (cutoff, DIGEST),
        )

    def _jobs(self, text: str, params: tuple[object, ...]) -> list[StuckJob]:
        with self._tx() as conn:
            rows = conn.execute(self._sql(text), params).fetchall()
        return [StuckJob(int(r[0]), int(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows]

    def release_lease(self, job_id: int, now: float, cutoff: float) -> bool:
        return self._change(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, next_attempt_at = %s "
            "WHERE id = %s AND state = 'sending' AND lease_until < %s",
            (now, job_id, cutoff),
        )

    # --- domain-event outbox ---

    def unrelayed_events(self, stage: str, cutoff: float) -> list[UnrelayedEvent]:
        """Events created before ``cutoff`` and not yet through ``stage`` (publish or store)."""
        column = {"publish": "published_at", "store": "stored_at"}[stage]
        with self._tx() as conn:
            rows = conn.execute(
                self._sql(
                    f"SELECT seq, id, type, claimed_by, lease_until, attempts FROM domain_event_outbox "  # noqa: S608 - fixed column names
                    f"WHERE {column} IS NULL AND created_at < %s ORDER BY seq LIMIT 1000"
                ),
                (cutoff,),
            ).fetchall()
        return [
            UnrelayedEvent(int(r[0]), str(r[1]), str(r[2]), r[3], None if r[4] is None else float(r[4]), int(r[5]))
            for r in rows
        ]

    def release_event_claim(self, seq: int) -> bool:
        return self._change(
            "UPDATE domain_event_outbox SET claimed_by = NULL, lease_until = NULL WHERE seq = %s", (seq,)
        )

    def stored_events_since(self, since: float) -> list[StoredEvent]:
        """Events the outbox marks stored, created at or after ``since``, newest first (at most 1000)."""
        with self._tx() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT seq, id, type FROM domain_event_outbox WHERE stored_at IS NOT NULL AND created_at >= %s "
                    "ORDER BY seq DESC LIMIT 1000"
                ),
                (since,),
            ).fetchall()
        return [StoredEvent(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def mark_unstored(self, seq: int) -> bool:
        """Let the relay append the event to the store again (appends are idempotent on the id)."""
        return self._change(
            "UPDATE domain_event_outbox SET stored_at = NULL, claimed_by = NULL, lease_until = NULL WHERE seq = %s",
            (seq,),
        )


@dataclass(frozen=True)
class Resent:
    job_id: int
    alert_id: int
    channel: str
    action: str
    previous: str  # dead | failing | delivered | pending | sending
    outcome: str  # requeued | retry now | unchanged


def resend(
    database: PostgresDatabase | SqliteDatabase,
    clock: Callable[[], float],
    *,
    job_id: int | None = None,
    dead_lettered: bool = False,
    failed: bool = False,
    since: float | None = None,
    channel: str | None = None,
    audit: SqlAuditLog | None = None,
    actor: str = "cli",
) -> list[Resent]:
    """Put dead-lettered jobs back in the outbox (fresh attempts) and make failing ones due now.

    Idempotent: a job is touched only while it is dead, or pending with a later retry time; once
    requeued (or delivered) another call leaves it ``unchanged``. The delivery worker does the sending.
    """
    sql: Callable[[str], str] = (lambda t: t.replace("%s", "?")) if database.dialect == "sqlite" else (lambda t: t)
    now = clock()
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if job_id is not None:
        where.append("id = %s")
        params.append(job_id)
    else:
        states = [
            *(["state = 'dead'"] if dead_lettered else []),
            *(["(state = 'pending' AND attempts > 0)"] if failed else []),
        ]
        where.append(f"({' OR '.join(states) or '1 = 0'})")
    if since is not None:
        where.append("created_at >= %s")
        params.append(now - since)
    if channel is not None:
        where.append("channel = %s")
        params.append(channel)
    out = []
    conn: Any
    with database.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT id, alert_id, channel, action, state, attempts, next_attempt_at FROM outbox WHERE "  # noqa: S608 - only constant fragments and placeholders
                + " AND ".join(where)
                + " ORDER BY id"
            ),
            params,
        ).fetchall()
        for job, alert_id, job_channel, action, state, attempts, next_at in rows:
            previous = "failing" if state == "pending" and int(attempts) > 0 else str(state)
            outcome = "unchanged"
            if state == "dead":
                conn.execute(
                    sql(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = %s, lease_until = NULL, "
                        "last_error = %s WHERE id = %s AND state = 'dead'"
                    ),
                    (now, "resend requested", job),
                )
                outcome = "requeued"
            elif previous == "failing" and float(next_at) > now:
                conn.execute(
                    sql("UPDATE outbox SET next_attempt_at = %s WHERE id = %s AND state = 'pending'"), (now, job)
                )
                outcome = "retry now"
            if outcome != "unchanged":
                conn.execute(
                    sql(
                        "INSERT INTO timeline (alert_id, at, kind, channel, actor, detail) "
                        "VALUES (%s, %s, 'resend', %s, 'monitoring resend', %s)"
                    ),
                    (alert_id, now, job_channel, f"{action}: {outcome} (was {previous})"),
                )
                if audit is not None:  # commits with the change itself
                    audit.write(conn, actor, RESEND, f"job:{job}", "cli", SUCCESS, f"{job_channel} {action}: {outcome}")
            out.append(Resent(int(job), int(alert_id), str(job_channel), str(action), previous, outcome))
    return out
