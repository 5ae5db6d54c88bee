"""Writing the alert history: a webhook's alerts and their jobs, acknowledgements, escalations,
and the dead man's switch episodes; each in one transaction, with its domain events and audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from monitoring.cloudevents import CloudEvent
from monitoring.tracing import current_traceparent
from receiver.config.routing import DIGEST
from receiver.store import alert_events, audit
from receiver.store.audit import AuditContext
from receiver.store.history import (
    AlertNotFound,
    AlertRecord,
    DueEscalation,
    NewJob,
    Observation,
    RecordOutcome,
)
from receiver.store.incident_writes import IncidentWrites
from receiver.store.incidents import Arrival, Departure
from receiver.store.sql_repository import ALERT_COLUMNS, alert_from_row

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
# An alert recorded before this webhook: id, status, content hash, last seen, and its incident (None
# when incidents are off).
Known = tuple[int, str, str, float, int | None]
_JSON = msgspec.json.Encoder()


def _json(document: dict[str, str]) -> str:
    return _JSON.encode(document).decode()


@dataclass
class _Superseded:
    departures: list[Departure] = field(default_factory=list)
    jobs: list[tuple[int, NewJob]] = field(default_factory=list)
    timeline: list[tuple[int, float, str, str | None, str | None, str]] = field(default_factory=list)
    resolved: list[tuple[int, Observation, float]] = field(default_factory=list)  # (alert, episode, when)


def _paged_by_incident(obs: Observation) -> bool:
    """With incidents on, a firing alert pages through its incident, not on its own."""
    return obs.component is not None and obs.status == "firing"


def _unpaged(obs: Observation) -> Observation:
    return replace(obs, channels=(), ack_deadline=None) if _paged_by_incident(obs) else obs


class HistoryWrites(IncidentWrites):
    # --- intake ---

    def record(self, observations: Sequence[Observation], now: float) -> RecordOutcome:
        """Record a webhook's alerts, their timeline, jobs and domain events in one transaction.

        On PostgreSQL that is two round trips whatever the webhook holds (pipeline mode): one
        statement inserts the new alerts with their "received" entries and jobs and returns, locked,
        the alerts already known; then what changed for those, the domain events and the commit
        go together. With incidents on, the components' locks go ahead of the first, and the
        incidents are decided between the two: two to four round trips (docs/receiver.md,
        "Incidents"). SQLite, in-process, takes a few statements more."""
        unique = {(o.fingerprint, o.starts_at): o for o in observations}
        if not unique:
            return RecordOutcome(0, 0, 0)
        correlating = self._correlator is not None and self._incident_schema
        if not correlating and any(o.component is not None for o in unique.values()):
            unique = {key: replace(o, component=None) for key, o in unique.items()}
        # With incidents on, a firing alert with a part gets no jobs of its own: its incident pages.
        rows = [_unpaged(o) for o in unique.values()] if correlating else list(unique.values())
        components = [o.component for o in unique.values() if o.component is not None]
        if not self._postgres:
            with self._tx() as conn:  # SQLite's single writer already orders related webhooks
                inserted = self._insert(conn, rows, now)
                known = {key[0] for key in unique if key not in inserted}
                if correlating:  # and the new firings' earlier episodes, which they may replace (_supersede)
                    known |= {key[0] for key, o in unique.items() if key in inserted and o.status == "firing"}
                existing = self._existing(conn, sorted(known), correlating)
                return self._apply(conn, unique, inserted, existing, now, correlating)
        with self._pipelined() as conn:
            if correlating:  # related alerts decide their incident one transaction after the other
                self._lock_components(conn, components)  # sent with BEGIN and the intake: no answer awaited
            inserted, existing = self._intake(conn, rows, now, correlating)  # the first round trip
            missed = sorted({key[0] for key in unique if key not in inserted and key not in existing})
            if missed:  # inserted by a concurrent webhook after the statement's snapshot: read them now
                existing.update(self._existing(conn, missed, correlating))
            # Incidents off, the rest is sent with the COMMIT: the second round trip. On, reading the
            # incidents costs one more, and opening or resolving one another (_correlate).
            return self._apply(conn, unique, inserted, existing, now, correlating)

    def _apply(
        self,
        conn: Any,
        unique: dict[Key, Observation],
        inserted: dict[Key, int],
        existing: dict[Key, Known],
        now: float,
        correlating: bool,
    ) -> RecordOutcome:
        """Everything after the insert: changes to known alerts, superseded episodes, incidents,
        and the domain events of all."""
        arrivals: list[tuple[Arrival, Observation]] = []
        departures: list[Departure] = []
        jobs: list[tuple[int, NewJob]] = []
        fresh_jobs: list[tuple[int, NewJob]] = []
        timeline: list[tuple[int, float, str, str | None, str | None, str]] = []
        seen: list[int] = []
        new_jobs = 0
        events: list[CloudEvent] = []  # the domain events of what this webhook changed: its incidents'
        deferred: list[alert_events.Deferred] = []  # and its alerts', by reference (built when relayed)
        emit = self._events is not None
        trace = self._traceparent() if emit else None
        for key, obs in unique.items():
            if key in inserted:
                if _paged_by_incident(obs):
                    arrivals.append((self._arrival(inserted[key], obs), obs))
                else:
                    new_jobs += len(obs.channels)
                if emit and not self._postgres:  # PostgreSQL recorded them with the alert (_intake)
                    resolved_at = obs.ends_at if obs.ends_at is not None else now
                    deferred += alert_events.arrived(inserted[key], obs, resolved_at, trace)
                if not self._postgres:  # PostgreSQL wrote them in the same statement as the alert
                    alert_id = inserted[key]
                    timeline.append((alert_id, now, "received", None, None, _received(obs)))
                    fresh_jobs.extend((alert_id, _job(obs, c, _action(obs))) for c in _unpaged(obs).channels)
                continue
            alert_id, status, content_hash, last_seen, incident_id = existing[key]
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
                if incident_id is not None and obs.component is not None:
                    departures.append(Departure(alert_id, incident_id))  # its incident resolves, not it
                else:
                    jobs.extend((alert_id, _job(obs, c, "resolve")) for c in obs.channels)
                if emit:
                    deferred.append(alert_events.resolved_later(alert_id, obs, resolved_at, trace))
            elif obs.status == "firing" and (status == "resolved" or content_hash != obs.content_hash):
                by_incident = _paged_by_incident(obs) and (status == "resolved" or incident_id is not None)
                deadline = None if by_incident else obs.ack_deadline
                if self._events is not None:  # its events not built yet keep the labels and annotations they had
                    self._events.keep(conn, alert_id)
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
                        None if deadline is None else now + deadline,
                        alert_id,
                    ),
                )
                # A re-fire (the same alert firing again after it resolved) is its own entry: reports count them.
                kind, detail = (REFIRED, REFIRED_DETAIL) if status == "resolved" else (CHANGED, CHANGED_DETAIL)
                timeline.append((alert_id, now, kind, None, None, detail))
                if by_incident and status == "resolved":  # firing again: it joins (or reopens) an incident
                    arrivals.append((self._arrival(alert_id, obs), obs))
                elif not by_incident:  # a change of an alert in an incident is in its timeline only
                    jobs.extend((alert_id, _job(obs, c, "trigger")) for c in obs.channels)
            else:
                seen.append(alert_id)
        if correlating:
            replaced = self._supersede(conn, unique, inserted, existing, now)
            departures += replaced.departures
            jobs += replaced.jobs
            timeline += replaced.timeline
            if emit:
                deferred += [alert_events.resolved_later(a, o, at, trace) for a, o, at in replaced.resolved]
        self._seen(conn, seen, now)
        opened = joined = 0
        if arrivals or departures:  # reads the incidents after the changes above (a round trip on PostgreSQL)
            correlated = self._correlate(conn, arrivals, departures, now)
            jobs += correlated.jobs
            events += correlated.events
            timeline += correlated.timeline
            opened, joined = correlated.opened, correlated.joined
        self._timeline(conn, timeline)
        self._jobs(conn, fresh_jobs + jobs, now)
        if self._events is not None:
            self._events.add_deferred(conn, deferred, now)
            self._events.add(conn, events, now)
        return RecordOutcome(
            new=len(inserted),
            updated=len(unique) - len(inserted),
            jobs=new_jobs + len(jobs),
            incidents_opened=opened,
            incidents_joined=joined,
            unmatched=sum(1 for a, _ in arrivals if a.part is None),
        )

    def _supersede(
        self,
        conn: Any,
        unique: dict[Key, Observation],
        inserted: dict[Key, int],
        existing: dict[Key, Known],
        now: float,
    ) -> _Superseded:
        """A new firing of an alert replaces its earlier episode still recorded firing.

        Alertmanager keys an alert by its labels: when it fires again (a new startsAt) before the
        resolve of the previous firing was sent, that resolve is never sent. Left firing, the old
        episode would keep its incident open, and the incident would swallow every later fault on
        that part without a page. It is resolved at the new firing's startsAt instead."""
        out = _Superseded()
        newest = {k[0]: k[1] for k, o in unique.items() if k in inserted and o.status == "firing"}
        for (fingerprint, starts_at), (alert_id, status, _, _, incident_id) in existing.items():
            if status != "firing" or starts_at >= newest.get(fingerprint, starts_at):
                continue
            obs = unique[(fingerprint, newest[fingerprint])]
            self._run(
                conn,
                "UPDATE alerts SET status = 'resolved', resolved_at = %s, last_seen = %s, escalate_at = NULL "
                "WHERE id = %s",
                (obs.starts_at, now, alert_id),
            )
            detail = "resolved: the alert fired again (a new startsAt) before Alertmanager sent this one's resolve"
            out.timeline.append((alert_id, now, "resolved", None, None, detail))
            if incident_id is not None:
                out.departures.append(Departure(alert_id, incident_id))
            else:
                out.jobs += [(alert_id, _job(obs, c, "resolve")) for c in obs.channels]
            episode = replace(obs, starts_at=starts_at, status="resolved", ends_at=obs.starts_at)
            out.resolved.append((alert_id, episode, obs.starts_at))
        return out

    @staticmethod
    def _arrival(alert_id: int, obs: Observation) -> Arrival:
        assert obs.component is not None
        return Arrival(alert_id, obs.fingerprint, obs.part, obs.component, obs.priority)

    def _seen(self, conn: Any, ids: Sequence[int], now: float) -> None:
        if not ids:
            return
        if self._postgres:
            conn.execute("UPDATE alerts SET last_seen = %s WHERE id = ANY(%s)", (now, list(ids)))
        else:
            self._many(conn, "UPDATE alerts SET last_seen = %s WHERE id = %s", [(now, i) for i in ids])

    def _existing(self, conn: Any, fingerprints: Sequence[str], incidents: bool = False) -> dict[Key, Known]:
        """(fingerprint, startsAt) -> (id, status, content hash, last seen, incident) of every recorded
        episode of these fingerprints, locked for this transaction (PostgreSQL); the incident only
        when incidents are on (the column comes with their schema)."""
        if not fingerprints:
            return {}
        columns = f"id, fingerprint, starts_at, status, content_hash, last_seen{', incident_id' if incidents else ''}"
        if self._postgres:
            rows = conn.execute(
                f"SELECT {columns} FROM alerts WHERE fingerprint = ANY(%s) FOR UPDATE",  # noqa: S608 - constant columns
                (list(fingerprints),),
            ).fetchall()
        else:
            marks = ", ".join(["?"] * len(fingerprints))
            rows = conn.execute(
                f"SELECT {columns} FROM alerts WHERE fingerprint IN ({marks})",  # noqa: S608 - placeholders only
                list(fingerprints),
            ).fetchall()
        return {
            (r[1], float(r[2])): (
                int(r[0]),
                r[3],
                r[4],
                float(r[5]),
                int(r[6]) if incidents and r[6] is not None else None,
            )
            for r in rows
        }

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
        " escalate_at float8, channels text, action text, budget int4, detail text, digest_at float8,"
        " event_ids text, event_types text"
    )

    # The new alerts' domain events, by reference (event_outbox.py): an AlertResolved's instant is the
    # alert's resolution (``resolved_at``, NULL for the events of a firing).
    _EMITTED = (
        ", emitted AS (INSERT INTO domain_event_outbox (id, type, aggregate, alert_id, at, traceparent, created_at)"
        "  SELECT e.id, e.type, new.fingerprint, new.id, input.resolved_at, %(event_trace)s, %(now)s"
        "  FROM new JOIN input USING (fingerprint, starts_at) CROSS JOIN LATERAL"
        "  unnest(string_to_array(input.event_ids, ','), string_to_array(input.event_types, ','))"
        "  WITH ORDINALITY AS e(id, type, n) ORDER BY new.id, e.n ON CONFLICT (id) DO NOTHING)"
    )

    def _intake(
        self, conn: Any, fresh: Sequence[Observation], now: float, incidents: bool = False
    ) -> tuple[dict[Key, int], dict[Key, Known]]:
        """PostgreSQL: one statement inserts the new alerts, their "received" timeline entries and their
        jobs (data-modifying CTEs) and reads the alerts already known, locked: ``(inserted, known)``.
        With domain events on, the same statement records the new alerts' events by reference.
        ``incidents``: the known alerts come with their incident, and a firing alert's other episodes
        still recorded firing come too (locked: a new firing supersedes them).

        An alert inserted by a concurrent webhook that commits after this statement's snapshot is in
        neither; the caller reads those again."""
        emit = self._events is not None
        arrivals = [alert_events.on_arrival(obs) if emit else () for obs in fresh]
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
                    "event_ids": ",".join(event_id for event_id, _ in events),
                    "event_types": ",".join(event_type for _, event_type in events),
                }
                for obs, events in zip(fresh, arrivals, strict=True)
            ]
        ).decode()
        traced_column, traced_value = (", traceparent", ", %(trace)s") if self._traced_jobs else ("", "")
        incident, member, episodes = "", "", ""
        if incidents:
            incident, member = ", a.incident_id", ", incident_id"
            episodes = " OR (input.status = 'firing' AND a.status = 'firing')"
        rows = conn.execute(
            f"WITH input AS (SELECT * FROM json_to_recordset(%(alerts)s::json) AS i({self._INTAKE_COLUMNS})),"  # noqa: S608 - constant fragments and placeholders only
            # one index lookup per alert (a join would hash the whole table), locked
            " known AS (SELECT k.* FROM input CROSS JOIN LATERAL (SELECT a.id, a.fingerprint, a.starts_at, a.status,"
            f"  a.content_hash, a.last_seen{incident} FROM alerts a WHERE a.fingerprint = input.fingerprint"
            f"  AND (a.starts_at = input.starts_at{episodes}) FOR UPDATE) k),"
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
            f"{self._EMITTED if emit else ''}"
            f" SELECT id, fingerprint, starts_at, NULL, NULL, NULL{', NULL' if incidents else ''} FROM new"
            f" UNION ALL SELECT id, fingerprint, starts_at, status, content_hash, last_seen{member} FROM known",
            {
                "alerts": document,
                "now": now,
                "trace": current_traceparent(),
                "event_trace": self._traceparent() if emit else None,
            },
        ).fetchall()  # the first round trip (with BEGIN)
        inserted: dict[Key, int] = {}
        known: dict[Key, Known] = {}
        for row in rows:
            alert_id, fingerprint, starts_at, status, content_hash, last_seen = row[:6]
            key = (fingerprint, float(starts_at))
            if status is None:
                inserted[key] = int(alert_id)
            else:
                incident_id = row[6] if incidents else None
                known[key] = (
                    int(alert_id),
                    str(status),
                    str(content_hash),
                    float(last_seen),
                    None if incident_id is None else int(incident_id),
                )
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
                self._use_ack_link(conn, link, alert_id, now, who)
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
