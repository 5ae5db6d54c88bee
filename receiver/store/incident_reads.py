"""Reading incidents: by filter (newest first), one with its alerts and timeline, the incident of an
alert, and those due for escalation."""

from __future__ import annotations

from typing import Any

from receiver.store.incident_writes import INCIDENT_COLUMNS, incident_from_row
from receiver.store.incidents import (
    DueIncidentEscalation,
    IncidentAlert,
    IncidentEntry,
    IncidentFilter,
    IncidentNotFound,
    IncidentRecord,
)
from receiver.store.sql_repository import ALERT_COLUMNS, SqlRepository, alert_from_row

ROLE_ORDER = {"cause": 0, "same_part": 1, "symptom": 2}


class IncidentReads(SqlRepository):
    def incidents(self, query: IncidentFilter) -> list[IncidentRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("status", query.status), ("priority", query.priority), ("part", query.part)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        bounds: tuple[tuple[str, float | None], ...] = (
            ("opened_at >= %s", query.since),
            ("opened_at < %s", query.until),
            ("id < %s", None if query.after_id is None else float(query.after_id)),
        )
        for clause, bound in bounds:
            if bound is not None:
                clauses.append(clause)
                params.append(bound)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._tx() as conn:
            rows = self._run(
                conn,
                f"SELECT {INCIDENT_COLUMNS} FROM incidents{where} ORDER BY id DESC LIMIT %s",  # noqa: S608 - constant fragments
                [*params, query.limit],
            ).fetchall()
        return [incident_from_row(r) for r in rows]

    def incident(self, incident_id: int) -> tuple[IncidentRecord, list[IncidentAlert], list[IncidentEntry]]:
        """The incident, its alerts (probable cause first, then the same part's, then symptoms) and its
        timeline. A merged incident shows the alerts of the incident it merged into."""
        with self._tx() as conn:
            row = self._run(conn, f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = %s", (incident_id,)).fetchone()  # noqa: S608 - constant columns
            if row is None:
                raise IncidentNotFound(incident_id)
            incident = incident_from_row(row)
            alerts = self._run(
                conn,
                f"SELECT {ALERT_COLUMNS}, part FROM alerts WHERE incident_id = %s ORDER BY id",  # noqa: S608 - constant columns
                (incident.merged_into or incident.id,),
            ).fetchall()
            entries = self._run(
                conn,
                "SELECT at, kind, alert_id, channel, actor, detail FROM incident_timeline WHERE incident_id = %s "
                "ORDER BY id",
                (incident_id,),
            ).fetchall()
        members = [
            IncidentAlert(a, IncidentAlert.role_of(a, r[-1], incident))
            for a, r in ((alert_from_row(r), r) for r in alerts)
        ]
        members.sort(key=lambda m: (ROLE_ORDER[m.role], m.alert.id))
        timeline = [
            IncidentEntry(float(e[0]), e[1], None if e[2] is None else int(e[2]), e[3], e[4], e[5]) for e in entries
        ]
        return incident, members, timeline

    def incident_of(self, alert_id: int) -> int | None:
        with self._tx() as conn:
            row = self._run(conn, "SELECT incident_id FROM alerts WHERE id = %s", (alert_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def due_incident_escalations(self, now: float, limit: int) -> list[DueIncidentEscalation]:
        with self._tx() as conn:
            rows = self._run(
                conn,
                f"SELECT {INCIDENT_COLUMNS} FROM incidents WHERE status = 'open' AND acked_at IS NULL "  # noqa: S608 - constant columns
                # a constant limit (as for alerts): every delivery pass runs this, on a plan made once
                f"AND escalate_at <= %s ORDER BY escalate_at LIMIT {int(limit)}",
                (now,),
            ).fetchall()
        return [DueIncidentEscalation(i, i.escalations) for i in map(incident_from_row, rows)]
