"""Writing the alert history: a webhook's alerts and their jobs, acknowledgements, escalations,
and the dead man's switch episodes; each in one transaction, with its domain events and audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from monitoring.cloudevents import CloudEvent
from monitoring.tracing import current_traceparent
from receiver.config.routing import DIGEST
from receiver.store import alert_events, audit
from receiver.store.audit import AuditContext
from receiver.store.history import (
    AckLinkUsed,
    AlertNotFound,
    AlertRecord,
    DueEscalation,
    NewJob,
    Observation,
    RecordOutcome,
)
from receiver.store.sql_repository import ALERT_COLUMNS, SqlRepository, alert_from_row

CHANGED, CHANGED_DETAIL = "changed", "labels or annotations changed"
REFIRED, REFIRED_DETAIL = "refired", "fired again after resolving"


def _action(obs: Observation) -> str:
    return "trigger" if obs.status == "firing" else "resolve"


def _job(obs: Observation, channel: str, action: str) -> NewJob:
    return NewJob(channel, action, obs.retry_budget, not_before=obs.digest_at if channel == DIGEST else None)


def _received(obs: Observation) -> str:
    flag = " (priority label missing or unknown: treated as high)" if obs.priority_defaulted else ""
    return f"{obs.status}, priority {obs.priority}{flag}"


Key = tuple[str, float]  # an alert's identity: fingerprint and startsAt
Known = tuple[int, str, str, float]  # an alert recorded before this webhook: id, status, content hash, last seen
_JSON = msgspec.json.Encoder()


def _json(document: dict[str, str]) -> str:
    return _JSON.encode(document).decode()


class HistoryWrites(SqlRepository):
    # --- intake ---

    def record(self, observations: Sequence[Observation], now: float) -> RecordOutcome:
        """Record a webhook's alerts, their timeline, jobs and domain events in one transaction.

        On PostgreSQL that is two round trips whatever the webhook holds (pipeline mode): one
        statement inserts the new alerts with their "received" entries and jobs and returns, locked,
        the alerts already known; then what changed for those, the domain events and the commit
        go together. SQLite, in-process, takes a few statements more."""
        unique = {(o.fingerprint, o.starts_at): o for o in observations}
        if not unique:
            return RecordOutcome(0, 0, 0)
        if not self._postgres:
            with self._tx() as conn:
                inserted = self._insert(conn, list(unique.values()), now)
                known = sorted({key[0] for key in unique if key not in inserted})
                return self._apply(conn, unique, inserted, self._existing(conn, known), now)
        with self._pipelined() as conn:
            inserted, existing = self._intake(conn, list(unique.values()), now)  # the first round trip
            missed = sorted({key[0] for key in unique if key not in inserted and key not in existing})
            if missed:  # inserted by a concurrent webhook after the statement's snapshot: read them now
                existing.update(self._existing(conn, missed))
            return self._apply(conn, unique, inserted, existing, now)  # sent with the COMMIT: the second

    def _apply(
        self,
        conn: Any,
        unique: dict[Key, Observation],
        inserted: dict[Key, int],
        existing: dict[Key, Known],
        now: float,
    ) -> RecordOutcome:
        """Everything after the insert: changes to known alerts, and the domain events of all."""
        jobs: list[tuple[int, NewJob]] = []
        fresh_jobs: list[tuple[int, NewJob]] = []
        timeline: list[tuple[int, float, str, str | None, str | None, str]] = []
        seen: list[int] = []
        new_jobs = 0
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
            alert_id, status, content_hash, last_seen = existing[key]
            if status == "resolved" and obs.status == "firing" and now - last_seen < self._stale_firing_grace:
                # Alertmanager gives a new firing a new startsAt: this is an old delivery (a lagging HA
                # peer, a replay) arriving after the resolve. Shown in the timeline; nobody is paged.
                detail = (
                    f"firing delivery {now - last_seen:.0f}s after the resolve, same startsAt: a stale replay "
                    f"(within RECEIVER_STALE_FIRING_GRACE={self._stale_firing_grace:g}s); not re-opened"
                )
                timeline.append((alert_id, now, "stale_firing", None, None, detail))
            elif status == "firing" and obs.status == "resolved":
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
                        _json(obs.labels),
                        _json(obs.annotations),
                        obs.content_hash,
                        now,
                        None if obs.ack_deadline is None else now + obs.ack_deadline,
                        alert_id,
                    ),
                )
                # A re-fire (the same alert firing again after it resolved) is its own entry: reports count them.
                kind, detail = (REFIRED, REFIRED_DETAIL) if status == "resolved" else (CHANGED, CHANGED_DETAIL)
                timeline.append((alert_id, now, kind, None, None, detail))
                jobs.extend((alert_id, _job(obs, c, "trigger")) for c in obs.channels)
            else:
                seen.append(alert_id)
        self._seen(conn, seen, now)
        self._timeline(conn, timeline)
        self._jobs(conn, fresh_jobs + jobs, now)
        if self._events is not None:
            self._events.add(conn, events, now)
        return RecordOutcome(new=len(inserted), updated=len(unique) - len(inserted), jobs=new_jobs + len(jobs))

    def _seen(self, conn: Any, ids: Sequence[int], now: float) -> None:
        if not ids:
            return
        if self._postgres:
            conn.execute("UPDATE alerts SET last_seen = %s WHERE id = ANY(%s)", (now, list(ids)))
        else:
            self._many(conn, "UPDATE alerts SET last_seen = %s WHERE id = %s", [(now, i) for i in ids])

    def _existing(self, conn: Any, fingerprints: Sequence[str]) -> dict[Key, Known]:
        """(fingerprint, startsAt) -> (id, status, content hash, last seen) of the known alerts of these
        fingerprints, locked for this transaction (PostgreSQL)."""
        if not fingerprints:
            return {}
        if self._postgres:
            rows = conn.execute(
                "SELECT id, fingerprint, starts_at, status, content_hash, last_seen FROM alerts "
                "WHERE fingerprint = ANY(%s) FOR UPDATE",
                (list(fingerprints),),
            ).fetchall()
        else:
            marks = ", ".join(["?"] * len(fingerprints))
            rows = conn.execute(
                "SELECT id, fingerprint, starts_at, status, content_hash, last_seen FROM alerts "  # noqa: S608 - placeholders only
                f"WHERE fingerprint IN ({marks})",
                list(fingerprints),
            ).fetchall()
        return {(r[1], float(r[2])): (int(r[0]), r[3], r[4], float(r[5])) for r in rows}

    _ALERT_INSERT = (
        "INSERT INTO alerts (fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, "
        "labels, annotations, content_hash, generator_url, first_seen, last_seen, resolved_at, escalate_at)"
    )
    _ALERT_TYPES = ("text", "float8", "text", "text", "text", "bool", "text", "text", "text", "text", "text") + (
        "float8",
    ) * 4

    @staticmethod
    def _row(obs: Observation, now: float) -> tuple[Any, ...]:
        return (
            obs.fingerprint,
            obs.starts_at,
            obs.alertname,
            obs.status,
            obs.priority,
            obs.priority_defaulted,
            obs.service,
            _json(obs.labels),
            _json(obs.annotations),
            obs.content_hash,
            obs.generator_url,
            now,
            now,
            None if obs.status == "firing" else (obs.ends_at if obs.ends_at is not None else now),
            now + obs.ack_deadline if obs.ack_deadline is not None and obs.status == "firing" else None,
        )

    def _insert(self, conn: Any, fresh: Sequence[Observation], now: float) -> dict[Key, int]:
        """SQLite: insert new alerts; return the ids of those this transaction created."""
        rows = [self._row(obs, now) for obs in fresh]
        conflict = " ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id, fingerprint, starts_at"
        created = self._values(conn, self._ALERT_INSERT, self._ALERT_TYPES, rows, conflict).fetchall()
        return {(r[1], float(r[2])): int(r[0]) for r in created}

    # The webhook's alerts arrive as one JSON document (a parameter, parsed by the server): cheaper to
    # build than an array per column, and one short statement that the server prepares once.
    _INTAKE_COLUMNS = (
        "fingerprint text, starts_at float8, alertname text, status text, priority text, priority_defaulted bool,"
        " service text, labels json, annotations json, content_hash text, generator_url text, resolved_at float8,"
        " escalate_at float8, channels text, action text, budget int4, detail text, digest_at float8"
    )

    def _intake(self, conn: Any, fresh: Sequence[Observation], now: float) -> tuple[dict[Key, int], dict[Key, Known]]:
        """PostgreSQL: one statement inserts the new alerts, their "received" timeline entries and their
        jobs (data-modifying CTEs) and reads the alerts already known, locked: ``(inserted, known)``.

        An alert inserted by a concurrent webhook that commits after this statement's snapshot is in
        neither; the caller reads those again."""
        document = _JSON.encode(
            [
                {
                    "fingerprint": obs.fingerprint,
                    "starts_at": obs.starts_at,
                    "alertname": obs.alertname,
                    "status": obs.status,
                    "priority": obs.priority,
                    "priority_defaulted": obs.priority_defaulted,
                    "service": obs.service,
                    "labels": obs.labels,
                    "annotations": obs.annotations,
                    "content_hash": obs.content_hash,
                    "generator_url": obs.generator_url,
                    "resolved_at": None
                    if obs.status == "firing"
                    else (obs.ends_at if obs.ends_at is not None else now),
                    "escalate_at": now + obs.ack_deadline
                    if obs.ack_deadline is not None and obs.status == "firing"
                    else None,
                    "channels": ",".join(obs.channels),
                    "action": _action(obs),
                    "budget": obs.retry_budget,
                    "detail": _received(obs),
                    "digest_at": obs.digest_at,
                }
                for obs in fresh
            ]
        ).decode()
        traced_column, traced_value = (", traceparent", ", %(trace)s") if self._traced_jobs else ("", "")
        rows = conn.execute(
            f"WITH input AS (SELECT * FROM json_to_recordset(%(alerts)s::json) AS i({self._INTAKE_COLUMNS})),"  # noqa: S608 - constant fragments and placeholders only
            # one index lookup per alert (a join would hash the whole table), locked
            " known AS (SELECT k.* FROM input CROSS JOIN LATERAL (SELECT a.id, a.fingerprint, a.starts_at, a.status,"
            "  a.content_hash, a.last_seen FROM alerts a WHERE a.fingerprint = input.fingerprint"
            "  AND a.starts_at = input.starts_at FOR UPDATE) k),"
            f" new AS ({self._ALERT_INSERT} SELECT fingerprint, starts_at, alertname, status, priority,"
            " priority_defaulted, service, labels::text, annotations::text, content_hash, generator_url, %(now)s,"
            " %(now)s, resolved_at, escalate_at FROM input"
            " ON CONFLICT (fingerprint, starts_at) DO NOTHING RETURNING id, fingerprint, starts_at),"
            " received AS (INSERT INTO timeline (alert_id, at, kind, detail)"
            "  SELECT new.id, %(now)s, 'received', input.detail FROM new JOIN input USING (fingerprint, starts_at)),"
            " queued AS (INSERT INTO outbox (alert_id, channel, action, state, attempts, max_attempts, fallback,"
            f"  created_at, next_attempt_at{traced_column})"
            "  SELECT new.id, ch.channel, input.action, 'pending', 0, input.budget, false, %(now)s,"
            f"  CASE WHEN ch.channel = '{DIGEST}' THEN COALESCE(input.digest_at, %(now)s) ELSE %(now)s END"
            f"  {traced_value} FROM new JOIN input USING (fingerprint, starts_at)"
            "  CROSS JOIN LATERAL unnest(string_to_array(input.channels, ',')) WITH ORDINALITY AS ch(channel, n)"
            "  ORDER BY new.id, ch.n)"
            " SELECT id, fingerprint, starts_at, NULL, NULL, NULL FROM new"
            " UNION ALL SELECT id, fingerprint, starts_at, status, content_hash, last_seen FROM known",
            {"alerts": document, "now": now, "trace": current_traceparent()},
        ).fetchall()  # the first round trip (with BEGIN)
        inserted: dict[Key, int] = {}
        known: dict[Key, Known] = {}
        for alert_id, fingerprint, starts_at, status, content_hash, last_seen in rows:
            key = (fingerprint, float(starts_at))
            if status is None:
                inserted[key] = int(alert_id)
            else:
                known[key] = (int(alert_id), status, content_hash, float(last_seen))
        return inserted, known

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
        link: str | None = None,
    ) -> AlertRecord:
        with self._tx() as conn:
            if link is not None:  # a one-click link acknowledges once: a second use changes nothing
                used = self._run(
                    conn,
                    "INSERT INTO ack_links_used (token_id, alert_id, used_at, used_by) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (token_id) DO NOTHING",
                    (link, alert_id, now, who),
                )
                if used.rowcount != 1:
                    raise AckLinkUsed(link)
            row = self._run(
                conn,
                "UPDATE alerts SET acked_at = COALESCE(acked_at, %s), acked_by = COALESCE(acked_by, %s), "  # noqa: S608 - constant columns
                f"escalate_at = NULL WHERE id = %s RETURNING {ALERT_COLUMNS}",
                (now, who, alert_id),
            ).fetchone()
            if row is None:
                raise AlertNotFound(alert_id)
            alert = alert_from_row(row)
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
            if self._postgres:  # the alert, its timeline entry and its jobs in one statement
                inserted, _known = self._intake(conn, [episode], now)
                alert_id = inserted[(episode.fingerprint, episode.starts_at)]
            else:
                alert_id = self._insert(conn, [episode], now)[(episode.fingerprint, episode.starts_at)]
                self._timeline(conn, [(alert_id, now, "received", None, None, _received(episode))])
                self._jobs(conn, [(alert_id, _job(episode, c, "trigger")) for c in episode.channels], now)
            self._run(conn, "UPDATE deadmans_switch SET episode_alert_id = %s WHERE id = 1", (alert_id,))
        return alert_id
