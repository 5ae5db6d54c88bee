"""The notification outbox's jobs: claimed under a lease (``SKIP LOCKED`` on PostgreSQL, so workers and
instances take disjoint jobs), then delivered, retried later or dead-lettered with a fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from receiver.config.routing import DIGEST
from receiver.store.history import (
    AlertRecord,
    Job,
    NewJob,
)
from receiver.store.sql_repository import ACTIVE_STATES, ALERT_COLUMNS, SqlRepository, alert_from_row

THREADED_CHANNELS = frozenset({"email"})  # channels whose messages form a conversation per alert
_ALERT_COLUMNS_OF_A = ", ".join(f"a.{column.strip()}" for column in ALERT_COLUMNS.split(","))


def _job(row: Sequence[Any], alert: AlertRecord, thread: int | None) -> Job:
    """A claimed job from its row: id, alert id, channel, action, attempts, budget, fallback, created
    at, and its traceparent when the schema has it."""
    return Job(
        id=int(row[0]),
        channel=row[2],
        action=row[3],
        attempts=int(row[4]),
        max_attempts=int(row[5]),
        fallback=bool(row[6]),
        created_at=float(row[7]),
        alert=alert,
        traceparent=row[8] if len(row) > 8 else None,
        thread=thread,
    )


class OutboxJobs(SqlRepository):
    # --- the outbox ---

    def claim(self, now: float, lease: float, limit: int, *, digest: bool = False) -> list[Job]:
        due = (
            "UPDATE outbox SET state = 'sending', lease_until = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608 - only constant fragments and placeholders are interpolated
            " SELECT o.id FROM outbox o WHERE ((o.state = 'pending' AND o.next_attempt_at <= %s)"
            "  OR (o.state = 'sending' AND o.lease_until <= %s))"
            f"  AND o.channel {'=' if digest else '<>'} '{DIGEST}'"
            f"  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.alert_id = o.alert_id AND e.channel = o.channel"
            f"   AND e.id < o.id AND e.state IN {ACTIVE_STATES})"
            # The limit is written in: as a parameter it would leave PostgreSQL no generic plan it
            # likes, and a plan made afresh at every claim costs more than running it.
            f" ORDER BY o.next_attempt_at, o.id LIMIT {int(limit)}{self._skip_locked}"
            ") RETURNING id, alert_id, channel, action, attempts, max_attempts, fallback, created_at"
            f"{', traceparent' if self._traced_jobs else ''}"
        )
        params = (now + lease, now, now)
        if self._postgres:  # the jobs with their alerts in one statement, sent with BEGIN and COMMIT
            threaded = ", ".join(f"'{channel}'" for channel in sorted(THREADED_CHANNELS))
            with self._write() as conn:
                cursor = conn.execute(
                    f"WITH claimed AS ({due}) SELECT claimed.*,"  # noqa: S608 - constant fragments
                    # where the alert's conversation on a threaded channel starts: its first trigger job there
                    f" CASE WHEN claimed.channel IN ({threaded}) THEN (SELECT MIN(t.id) FROM outbox t"
                    "  WHERE t.alert_id = claimed.alert_id AND t.channel = claimed.channel AND t.action = 'trigger')"
                    f" END, {_ALERT_COLUMNS_OF_A} FROM claimed JOIN alerts a ON a.id = claimed.alert_id",
                    params,
                )
            rows = cursor.fetchall()
            width = 9 if self._traced_jobs else 8
            return sorted((_job(r[:width], alert_from_row(r[width + 1 :]), r[width]) for r in rows), key=lambda j: j.id)
        with self._tx() as conn:
            claimed = self._run(conn, due, params).fetchall()
            if not claimed:
                return []
            alert_ids = sorted({int(r[1]) for r in claimed})
            marks = ", ".join(["%s"] * len(alert_ids))
            alerts = {
                a.id: a
                for a in map(
                    alert_from_row,
                    self._run(conn, f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ({marks})", alert_ids),  # noqa: S608 - only constant fragments and placeholders are interpolated
                )
            }
            threads = self._threads(conn, sorted({int(r[1]) for r in claimed if r[2] in THREADED_CHANNELS}))
        return sorted((_job(r, alerts[int(r[1])], threads.get((int(r[1]), r[2]))) for r in claimed), key=lambda j: j.id)

    def _threads(self, conn: Any, alert_ids: list[int]) -> dict[tuple[int, str], int]:
        """(alert, channel) -> the alert's first trigger job on that channel: where its conversation starts."""
        if not alert_ids:
            return {}
        marks = ", ".join(["%s"] * len(alert_ids))
        rows = self._run(
            conn,
            f"SELECT alert_id, channel, MIN(id) FROM outbox WHERE alert_id IN ({marks}) AND action = 'trigger'"  # noqa: S608 - only constant fragments and placeholders are interpolated
            f" AND channel IN ({', '.join(['%s'] * len(THREADED_CHANNELS))}) GROUP BY alert_id, channel",
            [*alert_ids, *sorted(THREADED_CHANNELS)],
        ).fetchall()
        return {(int(r[0]), r[1]): int(r[2]) for r in rows}

    def delivered(self, job: Job, now: float) -> None:
        with self._write() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'delivered', delivered_at = %s, lease_until = NULL WHERE id = %s",
                (now, job.id),
            )
            self._timeline(conn, [(job.alert.id, now, "notified", job.channel, None, self._describe(job))])

    def retry_later(self, job: Job, at: float, error: str, now: float) -> None:
        with self._write() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'pending', next_attempt_at = %s, lease_until = NULL, last_error = %s "
                "WHERE id = %s",
                (at, error, job.id),
            )
            detail = f"{self._describe(job)} attempt {job.attempts} failed: {error}; retry at {at:.3f}"
            self._timeline(conn, [(job.alert.id, now, "delivery_failed", job.channel, None, detail)])

    def dead_letter(self, job: Job, error: str, now: float, fallback: NewJob | None) -> None:
        with self._write() as conn:
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
