"""Writing incidents: the correlation step of ``record`` (under the component's lock, in the alerts'
transaction), acknowledging an incident, and escalating one that nobody acknowledged in time.

Locking (PostgreSQL): every transaction that changes incidents first takes a transaction-level
advisory lock per connected component of the topology it touches, in key order, before any row
lock: the webhook's record, an incident's acknowledgement and its escalation. Two webhooks with
related alerts (one component) therefore decide one after the other, and the second sees the
first's incident; webhooks about unrelated parts (other components) do not wait for each other.
SQLite's single writer (``BEGIN IMMEDIATE``) gives the same order.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring.cloudevents import CloudEvent
from receiver.config.routing import DIGEST
from receiver.store import audit, incident_events
from receiver.store.audit import AuditContext
from receiver.store.history import AckLinkUsed, NewJob, Observation
from receiver.store.incident_events import IncidentFacts
from receiver.store.incidents import (
    MERGED,
    OPEN,
    RESOLVED,
    UPDATE_CHANNELS,
    Arrival,
    Departure,
    DueIncidentEscalation,
    IncidentNotFound,
    IncidentRecord,
    IncidentState,
    Member,
    Plan,
)
from receiver.store.sql_repository import SqlRepository

INCIDENT_COLUMNS = (
    "id, page_key, title, part, component, status, priority, cause_alert_id, opened_at, updated_at, resolved_at, "
    "acked_at, acked_by, escalations, merged_into, reopened, channels, "
    "(SELECT COUNT(*) FROM alerts WHERE alerts.incident_id = incidents.id)"
)
_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


def incident_from_row(row: Sequence[Any]) -> IncidentRecord:
    return IncidentRecord(
        id=int(row[0]),
        key=row[1],
        title=row[2],
        part=row[3],
        component=row[4],
        status=row[5],
        priority=row[6],
        cause_alert_id=int(row[7]),
        opened_at=float(row[8]),
        updated_at=float(row[9]),
        resolved_at=None if row[10] is None else float(row[10]),
        acked_at=None if row[11] is None else float(row[11]),
        acked_by=row[12],
        escalations=int(row[13]),
        merged_into=None if row[14] is None else int(row[14]),
        reopened=int(row[15]),
        channels=tuple(c for c in str(row[16]).split(",") if c),
        alerts=int(row[17]),
    )


def lock_key(component: str) -> int:
    """A component's advisory-lock key (64 bits of a hash; a collision only serialises more)."""
    return int.from_bytes(hashlib.blake2b(f"incident:{component}".encode(), digest_size=8).digest(), "big", signed=True)


def title_of(alertname: str, service: str) -> str:
    return f"{alertname} ({service})" if service else alertname or "unnamed"


@dataclass
class _Row:
    """An incident's mutable columns while a plan is applied."""

    id: int
    key: str
    component: str
    part: str | None
    title: str
    status: str
    priority: str
    cause_alert_id: int
    opened_at: float
    resolved_at: float | None
    acked_at: float | None
    acked_by: str | None
    escalate_at: float | None
    reopened: int
    channels: list[str]
    members: list[Member] = field(default_factory=list)
    changed: bool = False

    def facts(self) -> IncidentFacts:
        return IncidentFacts(
            self.id,
            self.key,
            self.title,
            self.priority,
            self.part,
            self.cause_alert_id,
            self.opened_at,
            self.reopened,
        )

    def state(self) -> IncidentState:
        return IncidentState(
            self.id,
            self.component,
            self.status,
            self.opened_at,
            self.resolved_at,
            self.cause_alert_id,
            self.part,
            self.priority,
            tuple(self.members),
        )


@dataclass(frozen=True)
class Correlated:
    """What correlating a webhook did, and what the caller writes with its own rows."""

    jobs: list[tuple[int, NewJob]]
    events: list[CloudEvent]
    timeline: list[tuple[int, float, str, str | None, str | None, str]]  # the alerts' own timeline
    opened: int
    joined: int


_ROW_COLUMNS = (
    "i.id, i.page_key, i.component, i.part, i.title, i.status, i.priority, i.cause_alert_id, i.opened_at, "
    "i.resolved_at, i.acked_at, i.acked_by, i.escalate_at, i.reopened, i.channels"
)


class IncidentWrites(SqlRepository):
    # --- the record path ---

    def _in(self, column: str, values: Sequence[Any], pg_type: str) -> tuple[str, list[Any]]:
        if self._postgres:
            return f"{column} = ANY(%s::{pg_type}[])", [list(values)]
        if not values:
            return "0 = 1", []
        return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)

    def _lock_components(self, conn: Any, components: Iterable[str]) -> None:
        """The components' advisory locks, in key order (so two transactions never wait on each other
        in a circle). On SQLite the transaction already holds the single writer's lock."""
        keys = sorted({lock_key(c) for c in components})
        if self._postgres and keys:
            conn.execute(f"SELECT {', '.join(['pg_advisory_xact_lock(%s)'] * len(keys))}", keys)

    def _load(self, conn: Any, components: Sequence[str], incident_ids: Sequence[int], now: float) -> dict[int, _Row]:
        """The open incidents of ``components``, those resolved within the cool-down, and
        ``incident_ids``, with their alerts."""
        assert self._correlator is not None
        by_component, p1 = self._in("i.component", components, "text")
        by_id, p2 = self._in("i.id", incident_ids, "int8")
        # Of their alerts, what the rules look at, one row per part: whether one still fires there, and
        # when one last fired or resolved (an alert resolved before the window or the cool-down is not
        # read). However many alerts an incident gathers, a webhook reads a row per part.
        recent = now - max(self._correlator.window, self._correlator.cooldown)
        rows = self._run(
            conn,
            f"SELECT {_ROW_COLUMNS}, MIN(a.id), MIN(a.fingerprint), a.part, MAX(a.priority), "  # noqa: S608 - constant fragments and placeholders
            "SUM(CASE WHEN a.status = 'firing' THEN 1 ELSE 0 END), MAX(COALESCE(a.resolved_at, a.last_seen)) "
            "FROM incidents i LEFT JOIN alerts a ON a.incident_id = i.id "
            "AND (a.status = 'firing' OR (a.status = 'resolved' AND a.last_seen >= %s)) "
            f"WHERE (i.status = 'open' AND {by_component}) "
            f"OR (i.status = 'resolved' AND {by_component} AND i.resolved_at >= %s) "
            f"OR {by_id} GROUP BY i.id, a.part ORDER BY i.id",
            [recent, *p1, *p1, now - self._correlator.cooldown, *p2],
        ).fetchall()
        incidents: dict[int, _Row] = {}
        for r in rows:
            incident = incidents.get(int(r[0]))
            if incident is None:
                incident = incidents[int(r[0])] = _Row(
                    id=int(r[0]),
                    key=r[1],
                    component=r[2],
                    part=r[3],
                    title=r[4],
                    status=r[5],
                    priority=r[6],
                    cause_alert_id=int(r[7]),
                    opened_at=float(r[8]),
                    resolved_at=None if r[9] is None else float(r[9]),
                    acked_at=None if r[10] is None else float(r[10]),
                    acked_by=r[11],
                    escalate_at=None if r[12] is None else float(r[12]),
                    reopened=int(r[13]),
                    channels=[c for c in str(r[14]).split(",") if c],
                )
            if r[15] is not None:
                # The part's row stands for its alerts, under a key no alert has: an alert that resolves in
                # this webhook is already resolved in the row (read after), so a departure only marks it.
                key = -len(incident.members) - 1
                incident.members.append(Member(key, r[16], r[17], r[18], int(r[19]) > 0, float(r[20])))
        return incidents

    def _correlate(
        self,
        conn: Any,
        arrivals: Sequence[tuple[Arrival, Observation]],
        departures: Sequence[Departure],
        now: float,
    ) -> Correlated:
        """Decide (the correlator's plan) and persist: incidents, the alerts' membership, the incident
        timeline, the pages (trigger on an incident's opening or escalation, update otherwise, resolve
        after the cool-down) and the domain events."""
        assert self._correlator is not None
        components = sorted({a.component for a, _ in arrivals})
        rows = self._load(conn, components, sorted({d.incident_id for d in departures}), now)
        plan = self._correlator.plan([r.state() for r in rows.values()], [a for a, _ in arrivals], departures, now)
        return _Apply(self, conn, rows, {a.alert_id: (a, o) for a, o in arrivals}, now).run(plan)

    # --- acknowledgement and escalation ---

    def _incident_locked(self, conn: Any, incident_id: int) -> _Row:
        """The incident, after taking its component's lock (then its row is safe to change)."""
        found = self._run(conn, "SELECT component FROM incidents WHERE id = %s", (incident_id,)).fetchone()
        if found is None:
            raise IncidentNotFound(incident_id)
        self._lock_components(conn, [found[0]])
        row = self._run(conn, f"SELECT {_ROW_COLUMNS} FROM incidents i WHERE i.id = %s", (incident_id,)).fetchone()  # noqa: S608 - constant columns
        return _Row(
            id=int(row[0]),
            key=row[1],
            component=row[2],
            part=row[3],
            title=row[4],
            status=row[5],
            priority=row[6],
            cause_alert_id=int(row[7]),
            opened_at=float(row[8]),
            resolved_at=None if row[9] is None else float(row[9]),
            acked_at=None if row[10] is None else float(row[10]),
            acked_by=row[11],
            escalate_at=None if row[12] is None else float(row[12]),
            reopened=int(row[13]),
            channels=[c for c in str(row[14]).split(",") if c],
        )

    def acknowledge_incident(
        self,
        incident_id: int,
        who: str,
        comment: str,
        now: float,
        pages: NewJob | None = None,
        *,
        audit_context: AuditContext | None = None,
        link: str | None = None,
        link_alert: int | None = None,
    ) -> IncidentRecord:
        """Record who acknowledged, stop its escalation, acknowledge its alerts. On the first
        acknowledgement of an open incident that paged ``pages.channel`` (PagerDuty), queue ``pages``
        once for it and once for each incident merged into it that paged there too. ``link``: an
        alert's one-click link, used up in the same transaction."""
        with self._tx() as conn:
            if link is not None and link_alert is not None:
                self._use_ack_link(conn, link, link_alert, now, who)
            row = self._incident_locked(conn, incident_id)
            if row.status == MERGED:  # acknowledging a merged incident acknowledges where it went
                merged_into = self._run(conn, "SELECT merged_into FROM incidents WHERE id = %s", (incident_id,))
                target = int(merged_into.fetchone()[0])
                row = self._incident_locked(conn, target)
            first = row.acked_at is None
            self._run(
                conn,
                "UPDATE incidents SET acked_at = COALESCE(acked_at, %s), acked_by = COALESCE(acked_by, %s), "
                "escalate_at = NULL, updated_at = %s WHERE id = %s",
                (now, who, now, row.id),
            )
            self._run(
                conn,
                "UPDATE alerts SET acked_at = COALESCE(acked_at, %s), acked_by = COALESCE(acked_by, %s), "
                "escalate_at = NULL WHERE incident_id = %s",
                (now, who, row.id),
            )
            self._incident_timeline(conn, [(row.id, now, "acknowledged", None, None, who, comment)])
            if self._audit is not None and audit_context is not None:
                self._audit.write(
                    conn,
                    audit_context.actor,
                    audit.ACKNOWLEDGE,
                    f"incident:{row.id}",
                    audit_context.source,
                    audit.SUCCESS,
                    f"as {who}: {comment}",
                )
            if first and pages is not None and row.status == OPEN:
                paged = self._run(
                    conn,
                    "SELECT id, cause_alert_id, channels FROM incidents WHERE id = %s OR merged_into = %s ORDER BY id",
                    (row.id, row.id),
                ).fetchall()
                jobs = [
                    (int(r[1]), NewJob(pages.channel, pages.action, pages.max_attempts, incident=int(r[0])))
                    for r in paged
                    if pages.channel in str(r[2]).split(",")
                ]
                self._jobs(conn, jobs, now)
            record = self._run(conn, f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = %s", (row.id,)).fetchone()  # noqa: S608 - constant columns
        return incident_from_row(record)

    def escalate_incident(self, due: DueIncidentEscalation, jobs: Sequence[NewJob], next_at: float, now: float) -> bool:
        """Record one escalation unless another worker already did, or it was acknowledged, resolved
        or merged meanwhile (returns False then). ``jobs`` go out for the incident's probable cause."""
        with self._tx() as conn:
            self._lock_components(conn, [due.incident.component])
            cursor = self._run(
                conn,
                "UPDATE incidents SET escalations = escalations + 1, escalate_at = %s, updated_at = %s "
                "WHERE id = %s AND escalations = %s AND status = 'open' AND acked_at IS NULL",
                (next_at, now, due.incident.id, due.escalations),
            )
            if cursor.rowcount != 1:
                return False
            cause = self._run(
                conn, "SELECT cause_alert_id FROM incidents WHERE id = %s", (due.incident.id,)
            ).fetchone()[0]
            channels = ", ".join(j.channel for j in jobs) or "no channel"
            detail = f"escalation {due.escalations + 1}: not acknowledged in time; re-sent on {channels}"
            self._incident_timeline(conn, [(due.incident.id, now, "escalated", None, None, None, detail)])
            if self._audit is not None:
                self._audit.write(
                    conn, audit.SYSTEM, audit.ESCALATE, f"incident:{due.incident.id}", "worker", audit.SUCCESS, detail
                )
            self._jobs(
                conn,
                [(int(cause), NewJob(j.channel, j.action, j.max_attempts, incident=due.incident.id)) for j in jobs],
                now,
            )
        return True

    # --- plumbing ---

    def _use_ack_link(self, conn: Any, link: str, alert_id: int, now: float, who: str) -> None:
        """A one-click link acknowledges once: ``AckLinkUsed`` on a second use (nothing changes then)."""
        used = self._run(
            conn,
            "INSERT INTO ack_links_used (token_id, alert_id, used_at, used_by) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (token_id) DO NOTHING",
            (link, alert_id, now, who),
        )
        if used.rowcount != 1:
            raise AckLinkUsed(link)

    def _incident_timeline(
        self, conn: Any, rows: Sequence[tuple[int, float, str, int | None, str | None, str | None, str]]
    ) -> None:
        if rows:
            types = ("int8", "float8", "text", "int8", "text", "text", "text")
            self._values(
                conn,
                "INSERT INTO incident_timeline (incident_id, at, kind, alert_id, channel, actor, detail)",
                types,
                rows,
            )


class _Apply:
    """Persist one plan in a few batched statements, whatever the number of alerts."""

    def __init__(
        self,
        store: IncidentWrites,
        conn: Any,
        rows: dict[int, _Row],
        arrivals: Mapping[int, tuple[Arrival, Observation]],
        now: float,
    ) -> None:
        self.store = store
        self.conn = conn
        self.rows = rows
        self.arrivals = arrivals
        self.now = now
        self.cooldown = store._correlator.cooldown if store._correlator is not None else 0.0
        self.hold = store._correlator.hold if store._correlator is not None else 0.0
        self.jobs: list[tuple[int, NewJob]] = []
        self.timeline: list[tuple[int, float, str, int | None, str | None, str | None, str]] = []
        self.alert_timeline: list[tuple[int, float, str, str | None, str | None, str]] = []
        self.events: list[CloudEvent] = []
        self.members: list[tuple[int, int, str | None]] = []  # (incident, alert, part)
        self.emit = store._events is not None
        self.trace = store._traceparent() if self.emit else None
        self.priority_before = {r.id: r.priority for r in rows.values()}

    def run(self, plan: Plan) -> Correlated:
        ids = self._open(plan)
        reopens: dict[int, tuple[_Row, Arrival, Observation, bool]] = {}  # incident -> its first join back
        for join in plan.joined:
            incident = self.rows[ids.get(join.incident, join.incident)]
            arrival, obs = self.arrivals[join.alert.alert_id]
            self.members.append((incident.id, arrival.alert_id, arrival.part))
            incident.changed = True
            first_back = join.incident in plan.reopened and incident.id not in reopens
            if first_back:
                reopens[incident.id] = (incident, arrival, obs, join.escalates)
            what = f"{title_of(obs.alertname, obs.service)} ({obs.priority}) joined {_RULE_TEXT[join.rule]}"
            self.timeline.append((incident.id, self.now, "joined", arrival.alert_id, None, None, what))
            note = f"joined incident {incident.id} ({join.rule.replace('_', ' ')})"
            self.alert_timeline.append((arrival.alert_id, self.now, "incident", None, None, note))
            if join.escalates:
                self._escalate(incident, arrival, obs)
            elif not first_back:  # (the first alert back gets a follow-up or a page once we know which)
                self._update(incident, arrival.alert_id, obs.retry_budget)
        self._reopen(list(reopens.values()))
        for incident_id, alert_id in plan.causes.items():
            self._cause(self.rows[ids.get(incident_id, incident_id)], alert_id)
        for incident_id, priority in plan.priorities.items():
            incident = self.rows[ids.get(incident_id, incident_id)]
            incident.priority, incident.changed = priority, True
        if self.members:  # the alerts' membership first: merges move it, resolves count it
            self.store._many(
                self.conn,
                "UPDATE alerts SET incident_id = %s, part = %s, escalate_at = NULL, "
                "acked_at = COALESCE(acked_at, (SELECT acked_at FROM incidents WHERE id = %s)), "
                "acked_by = COALESCE(acked_by, (SELECT acked_by FROM incidents WHERE id = %s)) WHERE id = %s",
                [(incident, part, incident, incident, alert) for incident, alert, part in self.members],
            )
        for merge in plan.merged:
            self._merge(self.rows[merge.incident], self.rows[ids.get(merge.into, merge.into)])
        self._resolve([self.rows[ids.get(i, i)] for i in plan.resolved])
        self._write()
        return Correlated(self.jobs, self.events, self.alert_timeline, len(plan.opened), len(plan.joined))

    # --- each kind of change ---

    def _open(self, plan: Plan) -> dict[int, int]:
        """Insert the plan's new incidents, queue their pages; returns their refs -> ids."""
        if not plan.opened:
            return {}
        fresh = []
        for opened in plan.opened:
            arrival, obs = self.arrivals[opened.cause.alert_id]
            deadline = None if obs.ack_deadline is None else self.now + obs.ack_deadline
            row = _Row(
                id=0,
                key=uuid.uuid4().hex,
                component=arrival.component,
                part=arrival.part,
                title=title_of(obs.alertname, obs.service),
                status=OPEN,
                priority=obs.priority,
                cause_alert_id=arrival.alert_id,
                opened_at=self.now,
                resolved_at=None,
                acked_at=None,
                acked_by=None,
                escalate_at=deadline,
                reopened=0,
                channels=list(obs.channels),
            )
            fresh.append((opened.ref, row, arrival, obs))
        types = ("text", "text", "text", "text", "text", "text", "int8", "float8", "float8", "float8", "text")
        created = self.store._values(
            self.conn,
            "INSERT INTO incidents (page_key, component, part, title, status, priority, cause_alert_id, opened_at, "
            "updated_at, escalate_at, channels)",
            types,
            [
                (
                    r.key,
                    r.component,
                    r.part,
                    r.title,
                    r.status,
                    r.priority,
                    r.cause_alert_id,
                    self.now,
                    self.now,
                    r.escalate_at,
                    ",".join(r.channels),
                )
                for _, r, _, _ in fresh
            ],
            " RETURNING id, page_key",
        ).fetchall()
        by_key = {str(r[1]): int(r[0]) for r in created}
        ids = {}
        for ref, row, arrival, obs in fresh:
            row.id = ids[ref] = by_key[row.key]
            self.rows[row.id] = row
            self.members.append((row.id, arrival.alert_id, arrival.part))
            where = f"part {arrival.part}" if arrival.part is not None else "labels that match no part"
            paging = ", ".join(obs.channels) or "no channel"
            detail = f"opened by {row.title} ({obs.priority}, {where}); paging {paging}"
            self.timeline.append((row.id, self.now, "opened", arrival.alert_id, None, None, detail))
            note = f"opened incident {row.id}"
            self.alert_timeline.append((arrival.alert_id, self.now, "incident", None, None, note))
            held = self.now + self.hold if self.hold > 0 else None  # a related alert may still merge it
            self.jobs += [(arrival.alert_id, _job(obs, c, "trigger", row.id, held)) for c in obs.channels]
            if self.emit:
                self.events.append(incident_events.opened(row.facts(), self.now, self.trace))
        return ids

    def _escalate(self, incident: _Row, arrival: Arrival, obs: Observation) -> None:
        """A higher priority joined: page its channels, for the same incident (one PagerDuty incident)."""
        self.jobs += [(arrival.alert_id, _job(obs, c, "trigger", incident.id)) for c in obs.channels]
        incident.channels = list(dict.fromkeys([*incident.channels, *obs.channels]))
        if incident.acked_at is None and obs.ack_deadline is not None:
            deadline = self.now + obs.ack_deadline
            incident.escalate_at = deadline if incident.escalate_at is None else min(incident.escalate_at, deadline)
        detail = f"priority {obs.priority}: paging {', '.join(obs.channels) or 'no channel'} for this incident"
        self.timeline.append((incident.id, self.now, "escalated", arrival.alert_id, None, None, detail))

    def _update(self, incident: _Row, alert_id: int, budget: int) -> None:
        """Everyone it paged hears of it in the incident's conversation; nobody is paged again."""
        for channel in (c for c in incident.channels if c in UPDATE_CHANNELS):
            self.jobs.append((alert_id, NewJob(channel, "update", budget, incident=incident.id)))

    def _reopen(self, reopens: list[tuple[_Row, Arrival, Observation, bool]]) -> None:
        """Open again within the cool-down: their resolve notifications, still waiting, are cancelled
        and the alert back is a follow-up. Where they had gone out already (the cool-down was
        changed), it pages again, for the same incident. Three statements for all of them."""
        if not reopens:
            return
        roots = [incident.id for incident, _, _, _ in reopens]
        marks, params = self.store._in("merged_into", roots, "int8")
        family = {root: [root] for root in roots}
        for child, root in self.store._run(self.conn, f"SELECT id, merged_into FROM incidents WHERE {marks}", params):  # noqa: S608 - placeholders only
            family[int(root)].append(int(child))
        of = {member: root for root, members in family.items() for member in members}
        marks, params = self.store._in("incident_id", list(of), "int8")
        cancelled: dict[int, int] = {}
        for (incident_id,) in self.store._run(
            self.conn,
            f"DELETE FROM outbox WHERE {marks} AND action = 'resolve' AND state = 'pending' RETURNING incident_id",  # noqa: S608 - placeholders only
            params,
        ).fetchall():
            cancelled[of[int(incident_id)]] = cancelled.get(of[int(incident_id)], 0) + 1
        sent = {
            of[int(r[0])]
            for r in self.store._run(
                self.conn,
                f"SELECT DISTINCT incident_id FROM outbox WHERE {marks} AND action = 'resolve'",  # noqa: S608 - placeholders only
                params,
            ).fetchall()
        }
        for incident, arrival, obs, escalated in reopens:
            incident.status, incident.resolved_at = OPEN, None
            incident.reopened += 1
            # Firing again is not what was acknowledged: unacknowledged, it escalates if nobody looks.
            incident.acked_at = incident.acked_by = None
            if obs.ack_deadline is not None:
                incident.escalate_at = self.now + obs.ack_deadline
            detail = f"reopened: {title_of(obs.alertname, obs.service)} fired within the cool-down"
            if cancelled.get(incident.id):
                detail += f"; its {cancelled[incident.id]} resolve notifications are not sent"
            self.timeline.append((incident.id, self.now, "reopened", arrival.alert_id, None, None, detail))
            if self.emit:
                self.events.append(incident_events.opened(incident.facts(), self.now, self.trace))
            if incident.id in sent and not escalated:  # PagerDuty resolved it: page again, same incident
                self.jobs += [(arrival.alert_id, _job(obs, c, "trigger", incident.id)) for c in incident.channels]
            elif not escalated:
                self._update(incident, arrival.alert_id, obs.retry_budget)

    def _cause(self, incident: _Row, alert_id: int) -> None:
        """A more upstream alert is now the probable cause."""
        found = self.arrivals.get(alert_id)
        if found is not None:
            arrival, obs = found
            incident.part, incident.title = arrival.part, title_of(obs.alertname, obs.service)
        else:  # the probable cause of an incident that merges into this one
            other = next((r for r in self.rows.values() if r.cause_alert_id == alert_id), None)
            if other is not None:
                incident.part, incident.title = other.part, other.title
        incident.cause_alert_id, incident.changed = alert_id, True
        detail = f"probable cause now {incident.title}"
        self.timeline.append((incident.id, self.now, "cause", alert_id, None, None, detail))

    def _merge(self, gone: _Row, into: _Row) -> None:
        """``gone``'s alerts were symptoms of ``into``'s probable cause. Its page, when not sent yet, is
        not sent: ``into`` paged at a priority as high, or it goes out as ``into``'s escalation."""
        gone.status, gone.resolved_at, gone.escalate_at, gone.changed = MERGED, self.now, None, True
        into.changed = True
        for statement in (
            "UPDATE incidents SET merged_into = %s WHERE merged_into = %s",
            "UPDATE alerts SET incident_id = %s WHERE incident_id = %s",
            # follow-ups not sent yet speak for the incident that remains
            "UPDATE outbox SET incident_id = %s WHERE incident_id = %s AND action = 'update' AND state = 'pending'",
        ):
            self.store._run(self.conn, statement, (into.id, gone.id))
        self.store._run(self.conn, "UPDATE incidents SET merged_into = %s WHERE id = %s", (into.id, gone.id))
        unsent = self.store._run(
            self.conn,
            "DELETE FROM outbox WHERE incident_id = %s AND action = 'trigger' AND state = 'pending' "
            "RETURNING alert_id, channel, max_attempts",
            (gone.id,),
        ).fetchall()
        channels = [str(u[1]) for u in unsent]
        if unsent and (_RANK.get(gone.priority, 3) > _RANK.get(self.priority_before.get(into.id, ""), 0)):
            self.jobs += [(int(u[0]), NewJob(str(u[1]), "trigger", int(u[2]), incident=into.id)) for u in unsent]
            into.channels = list(dict.fromkeys([*into.channels, *channels]))
        gone.channels = [c for c in gone.channels if c not in channels]
        detail = f"incident {gone.id} ({gone.title}) merged in: its alerts are symptoms of {into.title}"
        if unsent:
            detail += f"; its {len(unsent)} unsent page notifications are not sent for it"
        self.timeline.append((into.id, self.now, "merged", gone.cause_alert_id, None, None, detail))
        self.timeline.append((gone.id, self.now, "merged", None, None, None, f"merged into incident {into.id}"))
        self._update(into, gone.cause_alert_id, FOLLOW_UP_BUDGET)
        if self.emit:
            alerts = self.store._run(
                self.conn, "SELECT COUNT(*) FROM alerts WHERE incident_id = %s", (into.id,)
            ).fetchone()[0]
            self.events.append(incident_events.resolved(gone.facts(), self.now, int(alerts), into.id, self.trace))

    def _resolve(self, incidents: list[_Row]) -> None:
        """Every alert resolved: resolve notifications on every channel each paged (and each incident
        merged into it paged), after the cool-down, unless an alert fires again before. One query."""
        if not incidents:
            return
        due = self.now + self.cooldown
        roots = [i.id for i in incidents]
        by_id, p1 = self.store._in("id", roots, "int8")
        by_root, p2 = self.store._in("merged_into", roots, "int8")
        paged = self.store._run(
            self.conn,
            "SELECT id, COALESCE(merged_into, id), cause_alert_id, channels, "  # noqa: S608 - placeholders only
            "(SELECT MAX(max_attempts) FROM outbox WHERE outbox.incident_id = incidents.id), "
            "(SELECT COUNT(*) FROM alerts WHERE alerts.incident_id = incidents.id) "
            f"FROM incidents WHERE {by_id} OR {by_root} ORDER BY id",
            [*p1, *p2],
        ).fetchall()
        alerts: dict[int, int] = {}
        for row_id, root, cause, channels, budget, count in paged:
            alerts[int(root)] = alerts.get(int(root), 0) + int(count)
            for channel in (c for c in str(channels).split(",") if c):
                job = NewJob(channel, "resolve", int(budget or FOLLOW_UP_BUDGET), not_before=due, incident=int(row_id))
                self.jobs.append((int(cause), job))
        detail = (
            f"every alert resolved; resolve notifications after the cool-down ({self.cooldown:g}s), "
            "unless an alert fires again before"
        )
        for incident in incidents:
            incident.status, incident.resolved_at, incident.escalate_at, incident.changed = (
                RESOLVED,
                self.now,
                None,
                True,
            )
            self.timeline.append((incident.id, self.now, "resolved", None, None, None, detail))
            if self.emit:
                count = alerts.get(incident.id, 0)
                self.events.append(incident_events.resolved(incident.facts(), self.now, count, None, self.trace))

    def _write(self) -> None:
        changed = [r for r in self.rows.values() if r.changed]
        self.store._many(
            self.conn,
            "UPDATE incidents SET part = %s, title = %s, status = %s, priority = %s, cause_alert_id = %s, "
            "updated_at = %s, resolved_at = %s, escalate_at = %s, reopened = %s, channels = %s, acked_at = %s, "
            "acked_by = %s WHERE id = %s",
            [
                (
                    r.part,
                    r.title,
                    r.status,
                    r.priority,
                    r.cause_alert_id,
                    self.now,
                    r.resolved_at,
                    r.escalate_at,
                    r.reopened,
                    ",".join(r.channels),
                    r.acked_at,
                    r.acked_by,
                    r.id,
                )
                for r in changed
            ],
        )
        self.store._incident_timeline(self.conn, self.timeline)


FOLLOW_UP_BUDGET = 5  # attempts for a follow-up or resolve that no alert's routing sized
_RULE_TEXT = {
    "same_part": "on the same part",
    "dependency": "as a symptom (its part depends on the incident's)",
    "late_upstream": "as the probable cause (it arrived after its dependents' alerts)",
    "reopened": "within the cool-down after the incident resolved",
}


def _job(obs: Observation, channel: str, action: str, incident: int, not_before: float | None = None) -> NewJob:
    if channel == DIGEST:
        not_before = max(obs.digest_at or 0.0, not_before or 0.0) or None
    return NewJob(channel, action, obs.retry_budget, not_before=not_before, incident=incident)
