"""Reading the alert history: alerts by filter, one alert with its timeline, due escalations,
the dead man's switch state and the outbox's figures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from receiver.config.routing import DIGEST
from receiver.store.history import (
    AckLinkUse,
    AlertFilter,
    AlertNotFound,
    AlertRecord,
    DueEscalation,
    OutboxStats,
    PendingJob,
    SwitchState,
    TimelineEntry,
)
from receiver.store.sql_repository import ACTIVE_STATES, ALERT_COLUMNS, SqlRepository, alert_from_row


class HistoryReads(SqlRepository):
    def due_escalations(self, now: float, limit: int) -> list[DueEscalation]:
        with self._tx() as conn:
            rows = self._run(
                conn,
                f"SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'firing' AND acked_at IS NULL "  # noqa: S608 - only constant fragments and placeholders are interpolated
                # a constant limit (as in the claim): every delivery pass runs this, on a plan made once
                f"AND escalate_at <= %s ORDER BY escalate_at LIMIT {int(limit)}",
                (now,),
            ).fetchall()
        return [DueEscalation(alert, alert.escalations) for alert in map(alert_from_row, rows)]

    # --- the dead man's switch (one row, see receiver/delivery/deadmans_switch.py) ---

    def switch_state(self) -> SwitchState:
        with self._tx() as conn:
            row = self._run(conn, "SELECT last_seen, episode_alert_id FROM deadmans_switch WHERE id = 1").fetchone()
        return SwitchState(
            last_seen=None if row[0] is None else float(row[0]),
            episode_alert_id=None if row[1] is None else int(row[1]),
        )

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
                f"SELECT {ALERT_COLUMNS} FROM alerts{where} ORDER BY id DESC LIMIT %s",  # noqa: S608 - constant fragments
                [*params, query.limit],
            ).fetchall()
        return [alert_from_row(r) for r in rows]

    def alert(self, alert_id: int) -> tuple[AlertRecord, list[TimelineEntry]]:
        with self._tx() as conn:
            row = self._run(conn, f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (alert_id,)).fetchone()  # noqa: S608 - only constant fragments and placeholders are interpolated
            if row is None:
                raise AlertNotFound(alert_id)
            entries = self._run(
                conn,
                "SELECT at, kind, channel, actor, detail FROM timeline WHERE alert_id = %s ORDER BY id",
                (alert_id,),
            ).fetchall()
        return alert_from_row(row), [TimelineEntry(float(e[0]), e[1], e[2], e[3], e[4]) for e in entries]

    def ack_link_use(self, token_id: str) -> AckLinkUse | None:
        with self._tx() as conn:
            row = self._run(
                conn,
                "SELECT token_id, alert_id, used_at, used_by FROM ack_links_used WHERE token_id = %s",
                (token_id,),
            ).fetchone()
        return None if row is None else AckLinkUse(str(row[0]), int(row[1]), float(row[2]), str(row[3]))

    def outbox_stats(self, now: float) -> OutboxStats:
        with self._tx() as conn:
            # A digest job waits for its digest time by design: it is late only from then on.
            pending, oldest = self._run(
                conn,
                f"SELECT COUNT(*), MIN(CASE WHEN channel <> '{DIGEST}' THEN created_at "  # noqa: S608 - only constant fragments and placeholders are interpolated
                f"WHEN next_attempt_at <= %s THEN next_attempt_at END) FROM outbox WHERE state IN {ACTIVE_STATES}",
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

    def pending_jobs(self, alert_id: int) -> list[PendingJob]:
        with self._tx() as conn:
            rows = self._run(
                conn,
                "SELECT id, channel, action, state,"  # noqa: S608 - only constant fragments and placeholders are interpolated
                " CASE WHEN state = 'sending' THEN lease_until ELSE next_attempt_at END AS due,"
                " attempts, max_attempts, fallback, last_error FROM outbox"
                f" WHERE alert_id = %s AND state IN {ACTIVE_STATES} ORDER BY due, id",
                (alert_id,),
            ).fetchall()
        return [
            PendingJob(int(r[0]), r[1], r[2], r[3], float(r[4]), int(r[5]), int(r[6]), bool(r[7]), r[8]) for r in rows
        ]
