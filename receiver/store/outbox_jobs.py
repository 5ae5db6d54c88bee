"""The notification outbox's jobs: claimed under a lease (``SKIP LOCKED`` on PostgreSQL, so workers and
instances take disjoint jobs), then delivered, retried later or dead-lettered with a fallback."""

from __future__ import annotations

from typing import Any

from receiver.config.routing import DIGEST
from receiver.store.history import (
    IncidentNotice,
    Job,
    NewJob,
)
from receiver.store.sql_repository import ACTIVE_STATES, ALERT_COLUMNS, SqlRepository, alert_from_row

THREADED_CHANNELS = frozenset({"email"})  # channels whose messages form a conversation per alert


class OutboxJobs(SqlRepository):
    # --- the outbox ---

    def claim(self, now: float, lease: float, limit: int, *, digest: bool = False) -> list[Job]:
        # Per alert and channel (and per incident and channel), jobs go out in order: a resolve after its trigger.
        same = (
            "(e.alert_id = o.alert_id OR e.incident_id = o.incident_id)"
            if self._incident_schema
            else "e.alert_id = o.alert_id"
        )
        returning = ["id", "alert_id", "channel", "action", "attempts", "max_attempts", "fallback", "created_at"]
        returning += ["traceparent"] * self._traced_jobs + ["incident_id"] * self._incident_schema
        with self._tx() as conn:
            claimed = self._run(
                conn,
                "UPDATE outbox SET state = 'sending', lease_until = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608 - only constant fragments and placeholders are interpolated
                " SELECT o.id FROM outbox o WHERE ((o.state = 'pending' AND o.next_attempt_at <= %s)"
                "  OR (o.state = 'sending' AND o.lease_until <= %s))"
                f"  AND o.channel {'=' if digest else '<>'} '{DIGEST}'"
                f"  AND NOT EXISTS (SELECT 1 FROM outbox e WHERE {same} AND e.channel = o.channel"
                f"   AND e.id < o.id AND e.state IN {ACTIVE_STATES})"
                f" ORDER BY o.next_attempt_at, o.id LIMIT %s{self._skip_locked}"
                f") RETURNING {', '.join(returning)}",
                (now + lease, now, now, limit),
            ).fetchall()
            if not claimed:
                return []
            rows = [dict(zip(returning, r, strict=True)) for r in claimed]
            alert_ids = sorted({int(r["alert_id"]) for r in rows})
            marks = ", ".join(["%s"] * len(alert_ids))
            alerts = {
                a.id: a
                for a in map(
                    alert_from_row,
                    self._run(conn, f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ({marks})", alert_ids),  # noqa: S608 - only constant fragments and placeholders are interpolated
                )
            }
            threads = self._threads(
                conn, sorted({int(r["alert_id"]) for r in rows if r["channel"] in THREADED_CHANNELS})
            )
            notices = self._notices(
                conn, sorted({int(r["incident_id"]) for r in rows if r.get("incident_id") is not None})
            )
        return sorted(
            (
                Job(
                    id=int(r["id"]),
                    channel=r["channel"],
                    action=r["action"],
                    attempts=int(r["attempts"]),
                    max_attempts=int(r["max_attempts"]),
                    fallback=bool(r["fallback"]),
                    created_at=float(r["created_at"]),
                    alert=alerts[int(r["alert_id"])],
                    traceparent=r.get("traceparent"),
                    thread=threads.get((int(r["alert_id"]), r["channel"])),
                    incident=None if r.get("incident_id") is None else notices[int(r["incident_id"])],
                )
                for r in rows
            ),
            key=lambda j: j.id,
        )

    def _notices(self, conn: Any, incident_ids: list[int]) -> dict[int, IncidentNotice]:
        if not incident_ids:
            return {}
        marks = ", ".join(["%s"] * len(incident_ids))
        rows = self._run(
            conn,
            "SELECT id, page_key, title, priority, status, cause_alert_id, "  # noqa: S608 - only constant fragments and placeholders are interpolated
            "(SELECT COUNT(*) FROM alerts WHERE alerts.incident_id = COALESCE(incidents.merged_into, incidents.id)) "
            f"FROM incidents WHERE id IN ({marks})",
            incident_ids,
        ).fetchall()
        return {int(r[0]): IncidentNotice(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), int(r[6])) for r in rows}

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
        with self._tx() as conn:
            self._run(
                conn,
                "UPDATE outbox SET state = 'delivered', delivered_at = %s, lease_until = NULL WHERE id = %s",
                (now, job.id),
            )
            self._timeline(conn, [(job.alert.id, now, "notified", job.channel, None, self._describe(job))])
            if job.incident is not None:
                detail = f"{self._describe(job)} for {job.alert.alertname} (alert {job.alert.id})"
                self._values(
                    conn,
                    "INSERT INTO incident_timeline (incident_id, at, kind, alert_id, channel, actor, detail)",
                    ("int8", "float8", "text", "int8", "text", "text", "text"),
                    [(job.incident.id, now, "notified", job.alert.id, job.channel, None, detail)],
                )

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
