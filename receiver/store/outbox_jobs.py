"""The notification outbox's jobs: claimed under a lease (``SKIP LOCKED`` on PostgreSQL, so workers and
instances take disjoint jobs), then delivered, retried later or dead-lettered with a fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from receiver.config.routing import DIGEST
from receiver.store.history import (
    AlertRecord,
    IncidentNotice,
    Job,
    NewJob,
)
from receiver.store.sql_repository import ACTIVE_STATES, ALERT_COLUMNS, SqlRepository, alert_from_row

THREADED_CHANNELS = frozenset({"email"})  # channels whose messages form a conversation per alert
_ALERT_COLUMNS_OF_A = ", ".join(f"a.{column.strip()}" for column in ALERT_COLUMNS.split(","))


_RETURNING = ("id", "alert_id", "channel", "action", "attempts", "max_attempts", "fallback", "created_at")
# The incident a job speaks for, as a notice: its key, title, priority, status, probable cause, and how
# many alerts it groups (those of the incident it merged into, when it merged).
_NOTICE_COLUMNS = ("page_key", "title", "priority", "status", "cause_alert_id", "alerts")
_NOTICE_COLUMNS_OF_I = (
    "i.page_key, i.title, i.priority, i.status, i.cause_alert_id, "
    "(SELECT COUNT(*) FROM alerts x WHERE x.incident_id = COALESCE(i.merged_into, i.id))"
)


def _notice(incident_id: int, row: Sequence[Any]) -> IncidentNotice:
    return IncidentNotice(incident_id, row[0], row[1], row[2], row[3], int(row[4]), int(row[5]))


def _job(row: Mapping[str, Any], alert: AlertRecord, thread: int | None, incident: IncidentNotice | None) -> Job:
    """A claimed job from its row (the columns of ``_RETURNING``, then ``traceparent`` and
    ``incident_id`` when the schema has them)."""
    return Job(
        id=int(row["id"]),
        channel=row["channel"],
        action=row["action"],
        attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]),
        fallback=bool(row["fallback"]),
        created_at=float(row["created_at"]),
        alert=alert,
        traceparent=row.get("traceparent"),
        thread=thread,
        incident=incident,
    )


class OutboxJobs(SqlRepository):
    # --- the outbox ---

    def claim(self, now: float, lease: float, limit: int, *, digest: bool = False) -> list[Job]:
        incidents = self._incident_schema
        # Per alert and channel (and per incident and channel), jobs go out in order: a resolve after its trigger.
        in_order = (
            "NOT EXISTS (SELECT 1 FROM outbox e WHERE e.alert_id = o.alert_id AND e.channel = o.channel"  # noqa: S608 - constant fragments
            f" AND e.id < o.id AND e.state IN {ACTIVE_STATES})"
        )
        if incidents:
            in_order += (
                " AND (o.incident_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox e"  # noqa: S608 - constant fragments
                " WHERE e.incident_id = o.incident_id AND e.channel = o.channel AND e.id < o.id"
                f" AND e.state IN {ACTIVE_STATES}))"
            )
        returning = [*_RETURNING, *["traceparent"] * self._traced_jobs, *["incident_id"] * incidents]
        due = (
            "UPDATE outbox SET state = 'sending', lease_until = %s, attempts = attempts + 1 WHERE id IN ("  # noqa: S608 - only constant fragments and placeholders are interpolated
            " SELECT o.id FROM outbox o WHERE ((o.state = 'pending' AND o.next_attempt_at <= %s)"
            "  OR (o.state = 'sending' AND o.lease_until <= %s))"
            f"  AND o.channel {'=' if digest else '<>'} '{DIGEST}' AND {in_order}"
            # The limit is written in: as a parameter it would leave PostgreSQL no generic plan it
            # likes, and a plan made afresh at every claim costs more than running it.
            f" ORDER BY o.next_attempt_at, o.id LIMIT {int(limit)}{self._skip_locked}"
            f") RETURNING {', '.join(returning)}"
        )
        params = (now + lease, now, now)
        if self._postgres:  # the jobs with their alerts (and incidents) in one statement, sent with BEGIN and COMMIT
            threaded = ", ".join(f"'{channel}'" for channel in sorted(THREADED_CHANNELS))
            notice, joined = "", ""
            if incidents:
                notice = f" {_NOTICE_COLUMNS_OF_I},"
                joined = " LEFT JOIN incidents i ON i.id = claimed.incident_id"
            with self._write() as conn:
                cursor = conn.execute(
                    f"WITH claimed AS ({due}) SELECT claimed.*,"  # noqa: S608 - constant fragments
                    # where the alert's conversation on a threaded channel starts: its first trigger job there
                    f" CASE WHEN claimed.channel IN ({threaded}) THEN (SELECT MIN(t.id) FROM outbox t"
                    "  WHERE t.alert_id = claimed.alert_id AND t.channel = claimed.channel AND t.action = 'trigger')"
                    f" END,{notice} {_ALERT_COLUMNS_OF_A} FROM claimed"
                    f" JOIN alerts a ON a.id = claimed.alert_id{joined}",
                    params,
                )
            jobs = []
            width, notice_width = len(returning), len(_NOTICE_COLUMNS) * incidents
            for r in cursor.fetchall():
                row = dict(zip(returning, r[:width], strict=True))
                found = r[width + 1 : width + 1 + notice_width]
                jobs.append(
                    _job(
                        row,
                        alert_from_row(r[width + 1 + notice_width :]),
                        r[width],
                        _notice(row["incident_id"], found) if incidents and row["incident_id"] is not None else None,
                    )
                )
            return sorted(jobs, key=lambda j: j.id)
        with self._tx() as conn:
            claimed = self._run(conn, due, params).fetchall()
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
                _job(
                    r,
                    alerts[int(r["alert_id"])],
                    threads.get((int(r["alert_id"]), r["channel"])),
                    None if r.get("incident_id") is None else notices[int(r["incident_id"])],
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
            f"SELECT i.id, {_NOTICE_COLUMNS_OF_I} FROM incidents i WHERE i.id IN ({marks})",  # noqa: S608 - only constant fragments and placeholders are interpolated
            incident_ids,
        ).fetchall()
        return {int(r[0]): _notice(int(r[0]), r[1:]) for r in rows}

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
            if job.incident is not None:
                detail = f"{self._describe(job)} for {job.alert.alertname} (alert {job.alert.id})"
                self._values(
                    conn,
                    "INSERT INTO incident_timeline (incident_id, at, kind, alert_id, channel, actor, detail)",
                    ("int8", "float8", "text", "int8", "text", "text", "text"),
                    [(job.incident.id, now, "notified", job.alert.id, job.channel, None, detail)],
                )

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
