"""The incidents API: incidents newest first (filtered), one with its alerts and timeline, and
acknowledging one (docs/alerting.md, "Incidents"; docs/receiver.md, "HTTP API")."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Blueprint, Response, current_app, jsonify, request

from receiver.config.routing import Priority
from receiver.store.database import DatabaseUnavailable
from receiver.store.incidents import (
    MERGED,
    OPEN,
    RESOLVED,
    IncidentEntry,
    IncidentFilter,
    IncidentNotFound,
    IncidentRecord,
    IncidentStore,
)
from receiver.web.api import Wiring, acknowledge_incident, alert_document
from receiver.web.json_errors import error_response
from receiver.web.query_params import moment, page, rfc3339

bp = Blueprint("incidents", __name__, url_prefix="/api/v1/incidents")
log = structlog.get_logger("receiver.incidents")
UNAVAILABLE = "alert history unavailable; retry later"


def _wiring() -> Wiring:
    wiring: Wiring = current_app.extensions["receiver"]
    return wiring


def _store(wiring: Wiring) -> IncidentStore:
    if wiring.incidents is None:
        raise DatabaseUnavailable("no incident store")
    return wiring.incidents


@bp.get("")
def list_incidents() -> Response:
    try:
        query = incident_filter(request.args.to_dict())
    except ValueError as exc:
        return error_response(400, str(exc))
    try:
        incidents = _store(_wiring()).incidents(query)
    except DatabaseUnavailable:
        return error_response(503, UNAVAILABLE)
    next_cursor = incidents[-1].id if len(incidents) == query.limit else None
    return jsonify({"incidents": [incident_document(i) for i in incidents], "next": next_cursor})


@bp.get("/<int:incident_id>")
def get_incident(incident_id: int) -> Response:
    try:
        incident, alerts, timeline = _store(_wiring()).incident(incident_id)
    except IncidentNotFound:
        return error_response(404, f"no incident with id {incident_id}")
    except DatabaseUnavailable:
        return error_response(503, UNAVAILABLE)
    return jsonify(
        {
            **incident_document(incident),
            "alerts": [{**alert_document(a.alert), "role": a.role} for a in alerts],
            "timeline": [entry_document(e) for e in timeline],
        }
    )


@bp.post("/<int:incident_id>/ack")
def acknowledge(incident_id: int) -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("who"), str) or not body["who"].strip():
        return error_response(
            400, "expected a JSON object with a non-empty string field 'who' (and optional 'comment')"
        )
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        return error_response(400, "field 'comment' must be a string")
    try:
        incident = acknowledge_incident(_wiring(), incident_id, body["who"], comment)
    except IncidentNotFound:
        return error_response(404, f"no incident with id {incident_id}")
    except DatabaseUnavailable:
        return error_response(503, UNAVAILABLE)
    log.info("incident acknowledged", incident_id=incident.id, who=incident.acked_by)
    return jsonify(incident_document(incident))


def incident_filter(args: dict[str, str]) -> IncidentFilter:
    unknown = set(args) - {"status", "priority", "part", "since", "until", "limit", "after"}
    if unknown:
        raise ValueError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    status = args.get("status")
    if status is not None and status not in (OPEN, RESOLVED, MERGED):
        raise ValueError("status: expected open, resolved or merged")
    priority = args.get("priority")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise ValueError("priority: expected critical, high, medium or low")
    limit, after_id = page(args)
    return IncidentFilter(
        status=status,
        priority=priority,
        part=args.get("part"),
        since=moment(args.get("since"), "since"),
        until=moment(args.get("until"), "until"),
        limit=limit,
        after_id=after_id,
    )


def incident_document(incident: IncidentRecord) -> dict[str, Any]:
    return {
        "id": incident.id,
        "key": incident.key,
        "title": incident.title,
        "part": incident.part,
        "status": incident.status,
        "priority": incident.priority,
        "causeAlertId": incident.cause_alert_id,
        "alertCount": incident.alerts,
        "channels": list(incident.channels),
        "openedAt": rfc3339(incident.opened_at),
        "updatedAt": rfc3339(incident.updated_at),
        "resolvedAt": rfc3339(incident.resolved_at),
        "acknowledgedAt": rfc3339(incident.acked_at),
        "acknowledgedBy": incident.acked_by,
        "escalations": incident.escalations,
        "reopened": incident.reopened,
        "mergedInto": incident.merged_into,
    }


def entry_document(entry: IncidentEntry) -> dict[str, Any]:
    return {
        "at": rfc3339(entry.at),
        "kind": entry.kind,
        "alertId": entry.alert_id,
        "channel": entry.channel,
        "actor": entry.actor,
        "detail": entry.detail,
    }
