"""Writing the alert history: a webhook's alerts and their jobs, acknowledgements, escalations,
and the dead man's switch episodes; each in one transaction, with its domain events and audit entry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
        unique = {(o.fingerprint, o.starts_at): o for o in observations}
        if not unique:
            return RecordOutcome(0, 0, 0)
        correlating = self._correlator is not None and self._incident_schema
        if not correlating:
            unique = {key: replace(o, component=None) for key, o in unique.items()}
        with self._tx() as conn:
            if correlating:  # related alerts decide their incident one transaction after the other
                self._lock_components(conn, [o.component for o in unique.values() if o.component is not None])
            # New alerts (the common case) cost one statement; only the others are read back, locked.
            inserted = self._insert(conn, [_unpaged(o) for o in unique.values()], now)
            known = {key[0] for key in unique if key not in inserted}
            if correlating:  # and the new firings' earlier episodes, which they may replace (_supersede)
                known |= {key[0] for key, o in unique.items() if key in inserted and o.status == "firing"}
            marks = ", ".join(["%s"] * len(known))
            existing = self._existing(conn, marks, sorted(known), correlating) if known else {}
            arrivals: list[tuple[Arrival, Observation]] = []
            departures: list[Departure] = []
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
                    if _paged_by_incident(obs):
                        arrivals.append((self._arrival(inserted[key], obs), obs))
                    else:
                        new_jobs += len(obs.channels)
                    if emit and obs.status == "firing":
                        events.extend(alert_events.fired(inserted[key], obs, trace))
                    elif emit:
                        resolved_at = obs.ends_at if obs.ends_at is not None else now
                        events.append(alert_events.resolved(inserted[key], obs, resolved_at, trace))
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
                        events.append(alert_events.resolved(alert_id, obs, resolved_at, trace))
                elif obs.status == "firing" and (status == "resolved" or content_hash != obs.content_hash):
                    by_incident = _paged_by_incident(obs) and (status == "resolved" or incident_id is not None)
                    deadline = None if by_incident else obs.ack_deadline
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
                    seen.append((now, alert_id))
            if correlating:
                replaced = self._supersede(conn, unique, inserted, existing, now)
                departures += replaced.departures
                jobs += replaced.jobs
                timeline += replaced.timeline
                if emit:
                    events += [alert_events.resolved(a, o, at, trace) for a, o, at in replaced.resolved]
            self._many(conn, "UPDATE alerts SET last_seen = %s WHERE id = %s", seen)
            opened = joined = 0
            with self._pipelined(conn, correlating):  # the incident's writes and these: one round trip
                if arrivals or departures:
                    correlated = self._correlate(conn, arrivals, departures, now)
                    jobs += correlated.jobs
                    events += correlated.events
                    timeline += correlated.timeline
                    opened, joined = correlated.opened, correlated.joined
                self._timeline(conn, timeline)
                self._jobs(conn, fresh_jobs + jobs, now)
                if self._events is not None:
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
        unique: dict[tuple[str, float], Observation],
        inserted: dict[tuple[str, float], int],
        existing: dict[tuple[str, float], tuple[int, str, str, float, int | None]],
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

    def _existing(
        self, conn: Any, marks: str, fingerprints: list[str], incidents: bool = False
    ) -> dict[tuple[str, float], tuple[int, str, str, float, int | None]]:
        """(fingerprint, startsAt) -> (id, status, content hash, last seen, incident) of the known
        alerts, locked (the incident only when incidents are on)."""
        incident = ", incident_id" if incidents else ""
        rows = self._run(
            conn,
            f"SELECT id, fingerprint, starts_at, status, content_hash, last_seen{incident} FROM alerts "  # noqa: S608 - only constant fragments and placeholders are interpolated
            f"WHERE fingerprint IN ({marks}){self._for_update}",
            fingerprints,
        ).fetchall()
        return {
            (r[1], float(r[2])): (
                int(r[0]),
                r[3],
                r[4],
                float(r[5]),
                None if not incidents or r[6] is None else int(r[6]),
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
            inserted = self._insert(conn, [episode], now)
            alert_id = inserted[(episode.fingerprint, episode.starts_at)]
            if not self._postgres:  # PostgreSQL wrote them in the same statement as the alert
                self._timeline(conn, [(alert_id, now, "received", None, None, _received(episode))])
                self._jobs(conn, [(alert_id, _job(episode, c, "trigger")) for c in episode.channels], now)
            self._run(conn, "UPDATE deadmans_switch SET episode_alert_id = %s WHERE id = 1", (alert_id,))
        return alert_id
