"""The HTTP API: Alertmanager's webhook, acknowledgement, and alert history queries.

Errors map to HTTP here and nowhere else: 400 when a retry cannot help (the message names
the field), 401 for credentials, 413 for size, 503 when storage fails or the receiver is
overloaded (Alertmanager retries).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
from flask import Blueprint, Response, current_app, jsonify, request
from opentelemetry import trace
from opentelemetry.trace import Tracer
from werkzeug.exceptions import RequestEntityTooLarge

from receiver.config.routing import Priority, RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.delivery.deadmans_switch import DeadMansSwitch, is_watchdog
from receiver.intake.correlation import IncidentRules
from receiver.intake.metrics import IntakeMetrics
from receiver.intake.observations import observe
from receiver.intake.payload import PayloadInvalid, decode_payload
from receiver.store import audit
from receiver.store.audit import AuditContext, AuditLog
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import (
    AckLinkUsed,
    AlertFilter,
    AlertHistory,
    AlertNotFound,
    AlertRecord,
    NewJob,
    PendingJob,
    TimelineEntry,
)
from receiver.store.incidents import IncidentRecord, IncidentStore
from receiver.web import access
from receiver.web.json_errors import error_response
from receiver.web.query_params import moment, page, rfc3339

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = structlog.get_logger("receiver.api")
ACK_BUDGET = 5  # attempts to acknowledge the PagerDuty incident


@dataclass(frozen=True)
class Wiring:
    """What the API needs, built by the application factory."""

    config: ReceiverConfig
    history: AlertHistory | None
    policy: RoutingPolicy
    metrics: IntakeMetrics
    clock: Callable[[], float]
    configured_channels: frozenset[str]
    deadmans_switch: DeadMansSwitch | None = None
    tracer: Tracer = field(default_factory=trace.NoOpTracer)
    audit_log: AuditLog | None = None
    incident_rules: IncidentRules | None = None  # the topology's rules: incidents on
    incidents: IncidentStore | None = None


def _wiring() -> Wiring:
    wiring: Wiring = current_app.extensions["receiver"]
    return wiring


def _read_body(limit: int) -> bytes:
    """The body, read in chunks and abandoned as soon as it exceeds ``limit`` (chunked uploads)."""
    chunks: list[bytes] = []
    total = 0
    while chunk := request.stream.read(65536):
        total += len(chunk)
        if total > limit:
            raise RequestEntityTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _history(wiring: Wiring) -> AlertHistory:
    if wiring.history is None:
        raise DatabaseUnavailable("no alert-history repository")
    return wiring.history


WEBHOOK_PATH = "/api/v1/alerts/alertmanager"


@bp.post("/alerts/alertmanager")
def alertmanager_webhook() -> Response:
    wiring = _wiring()
    # Credentials were checked before this view ran (receiver.web.access, the webhook's own credential).
    length = request.content_length
    if length is not None and length > wiring.config.max_body_bytes:  # refused before reading the body
        wiring.metrics.webhooks_rejected.labels("too_large").inc()
        log.warning("webhook rejected", reason="too_large", content_length=length)
        return error_response(413, f"body of {length} bytes exceeds {wiring.config.max_body_bytes}")
    # Admitted already: receiver.intake.admission.AdmissionGate holds an intake slot around this view.
    started = time.perf_counter()
    try:
        with wiring.metrics.timed("decode"):
            payload = decode_payload(_read_body(wiring.config.max_body_bytes))
    except RequestEntityTooLarge:
        wiring.metrics.webhooks_rejected.labels("too_large").inc()
        log.warning("webhook rejected", reason="too_large", content_length=None)
        return error_response(413, f"body exceeds {wiring.config.max_body_bytes} bytes")
    except PayloadInvalid as exc:
        wiring.metrics.webhooks_rejected.labels("invalid").inc()
        log.warning("webhook rejected", reason="invalid", error=str(exc))
        return error_response(400, f"invalid Alertmanager payload: {exc}")
    now = wiring.clock()
    # Watchdog is the dead man's switch's heartbeat: recorded, never stored as an alert nor routed.
    watchdogs = sum(1 for a in payload.alerts if is_watchdog(a.labels) and a.status == "firing")
    payload = msgspec.structs.replace(payload, alerts=[a for a in payload.alerts if not is_watchdog(a.labels)])
    with (
        wiring.metrics.timed("observe"),
        wiring.tracer.start_as_current_span("intake", attributes={"alerts": len(payload.alerts)}),
    ):
        observations = observe(
            payload,
            wiring.policy,
            wiring.configured_channels,
            now,
            wiring.config.digest_interval,
            wiring.incident_rules,
        )
    try:
        with wiring.metrics.timed("store"):
            # The jobs written here keep this span's traceparent: their delivery spans are its children.
            with wiring.tracer.start_as_current_span(
                "history write", attributes={"db.operation.name": "record"}
            ) as span:
                outcome = _history(wiring).record(observations, now)
                span.set_attributes(
                    {"alerts.new": outcome.new, "alerts.updated": outcome.updated, "jobs": outcome.jobs}
                )
            if watchdogs and wiring.deadmans_switch is not None:
                wiring.deadmans_switch.heartbeat()
    except DatabaseUnavailable as exc:
        wiring.metrics.webhooks_rejected.labels("storage").inc()
        log.error("webhook not stored", reason=str(exc), alerts=len(observations))
        return error_response(503, "alert history unavailable; retry later", **{"Retry-After": "5"})
    wiring.metrics.webhooks_received.inc()
    wiring.metrics.watchdogs_received.inc(watchdogs)
    for status, count in Counter(obs.status for obs in observations).items():
        wiring.metrics.alerts_received.labels(status).inc(count)
    if defaulted := sum(1 for obs in observations if obs.priority_defaulted):
        wiring.metrics.priority_defaulted.inc(defaulted)
    incidents = {}
    if wiring.incident_rules is not None:
        wiring.metrics.incidents_opened.inc(outcome.incidents_opened)
        wiring.metrics.incident_joins.inc(outcome.incidents_joined)
        wiring.metrics.alerts_unmatched.inc(outcome.unmatched)
        incidents = {"incidents_opened": outcome.incidents_opened, "incident_joins": outcome.incidents_joined}
        if outcome.unmatched:
            incidents["unmatched"] = outcome.unmatched
    log.info(
        "webhook stored",
        group_key=payload.group_key,
        alerts=len(observations),
        new=outcome.new,
        updated=outcome.updated,
        jobs=outcome.jobs,
        watchdogs=watchdogs,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        **incidents,
    )
    response = jsonify({"new": outcome.new, "updated": outcome.updated, "jobs": outcome.jobs})
    response.status_code = 200
    return response


def acknowledge_alert(
    wiring: Wiring,
    alert_id: int,
    who: str,
    comment: str,
    *,
    actor: AuditContext | None = None,
    link: str | None = None,
) -> AlertRecord:
    """Record an acknowledgement (API, console and one-click links alike); PagerDuty's incident is
    acknowledged too. An alert that belongs to an incident acknowledges its incident (every alert of
    it, one PagerDuty acknowledge): the page was the incident's.

    The audit entry (``actor``: by default the authenticated key and the client address) is written
    in the same transaction; an acknowledgement that fails is audit-logged as failed. ``link``: the
    one-click link's id, used up in the same transaction (``AckLinkUsed`` on a second use)."""
    pages = NewJob("pagerduty", "acknowledge", ACK_BUDGET) if "pagerduty" in wiring.configured_channels else None
    actor = actor or AuditContext(access.current_key().id, request.remote_addr or "")
    incident = None if wiring.incidents is None else wiring.incidents.incident_of(alert_id)
    try:
        if incident is not None:
            acknowledge_incident(wiring, incident, who, comment, actor=actor, link=link, link_alert=alert_id)
            return _history(wiring).alert(alert_id)[0]
        return _history(wiring).acknowledge(
            alert_id, who.strip()[:200], comment[:2000], wiring.clock(), pages, audit_context=actor, link=link
        )
    except (AlertNotFound, AckLinkUsed, DatabaseUnavailable) as exc:
        if wiring.audit_log is not None and not isinstance(exc, DatabaseUnavailable):
            reason = "no such alert" if isinstance(exc, AlertNotFound) else "the acknowledge link was used before"
            wiring.audit_log.record(
                actor.actor, audit.ACKNOWLEDGE, f"alert:{alert_id}", actor.source, audit.FAILED, reason
            )
        raise


def acknowledge_incident(
    wiring: Wiring,
    incident_id: int,
    who: str,
    comment: str,
    *,
    actor: AuditContext | None = None,
    link: str | None = None,
    link_alert: int | None = None,
) -> IncidentRecord:
    """Acknowledge an incident and its alerts (API, console and an alert's one-click link alike),
    audit-logged in the same transaction; PagerDuty's incident is acknowledged once. ``link``: the
    one-click link (of the alert ``link_alert``), used up in that transaction. IncidentNotFound for
    an unknown id."""
    if wiring.incidents is None:
        raise DatabaseUnavailable("no incident store")
    pages = NewJob("pagerduty", "acknowledge", ACK_BUDGET) if "pagerduty" in wiring.configured_channels else None
    actor = actor or AuditContext(access.current_key().id, request.remote_addr or "")
    return wiring.incidents.acknowledge_incident(
        incident_id,
        who.strip()[:200],
        comment[:2000],
        wiring.clock(),
        pages,
        audit_context=actor,
        link=link,
        link_alert=link_alert,
    )


@bp.post("/alerts/<int:alert_id>/ack")
def acknowledge(alert_id: int) -> Response:
    wiring = _wiring()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("who"), str) or not body["who"].strip():
        return error_response(
            400, "expected a JSON object with a non-empty string field 'who' (and optional 'comment')"
        )
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        return error_response(400, "field 'comment' must be a string")
    try:
        alert = acknowledge_alert(wiring, alert_id, body["who"], comment)
    except AlertNotFound:
        return error_response(404, f"no alert with id {alert_id}")
    except DatabaseUnavailable:
        return error_response(503, "alert history unavailable; retry later")
    log.info("alert acknowledged", alert_id=alert_id, who=alert.acked_by)
    return jsonify(alert_document(alert))


@bp.get("/alerts")
def list_alerts() -> Response:
    wiring = _wiring()
    try:
        query = _filter(request.args.to_dict())
    except ValueError as exc:
        return error_response(400, str(exc))
    try:
        alerts = _history(wiring).alerts(query)
    except DatabaseUnavailable:
        return error_response(503, "alert history unavailable; retry later")
    next_cursor = alerts[-1].id if len(alerts) == query.limit else None
    return jsonify({"alerts": [alert_document(a) for a in alerts], "next": next_cursor})


@bp.get("/alerts/<int:alert_id>")
def get_alert(alert_id: int) -> Response:
    wiring = _wiring()
    try:
        history = _history(wiring)
        alert, timeline = history.alert(alert_id)
        pending = history.pending_jobs(alert_id)
    except AlertNotFound:
        return error_response(404, f"no alert with id {alert_id}")
    except DatabaseUnavailable:
        return error_response(503, "alert history unavailable; retry later")
    return jsonify(
        {
            **alert_document(alert),
            "timeline": [entry_document(e) for e in timeline],
            "pendingJobs": [pending_job_document(j) for j in pending],
        }
    )


def _filter(args: dict[str, str]) -> AlertFilter:
    unknown = set(args) - {"status", "priority", "service", "since", "until", "limit", "after"}
    if unknown:
        raise ValueError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    status = args.get("status")
    if status is not None and status not in ("firing", "resolved"):
        raise ValueError("status: expected firing or resolved")
    priority = args.get("priority")
    if priority is not None and priority not in {p.value for p in Priority}:
        raise ValueError("priority: expected critical, high, medium or low")
    limit, after_id = page(args)
    return AlertFilter(
        status=status,
        priority=priority,
        service=args.get("service"),
        since=moment(args.get("since"), "since"),
        until=moment(args.get("until"), "until"),
        limit=limit,
        after_id=after_id,
    )


def alert_document(alert: AlertRecord) -> dict[str, Any]:
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "startsAt": rfc3339(alert.starts_at),
        "alertname": alert.alertname,
        "status": alert.status,
        "priority": alert.priority,
        "priorityDefaulted": alert.priority_defaulted,
        "service": alert.service,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generatorURL": alert.generator_url,
        "firstSeen": rfc3339(alert.first_seen),
        "lastSeen": rfc3339(alert.last_seen),
        "resolvedAt": rfc3339(alert.resolved_at),
        "acknowledgedAt": rfc3339(alert.acked_at),
        "acknowledgedBy": alert.acked_by,
        "escalations": alert.escalations,
        "timeToAckSeconds": alert.time_to_ack,
        "timeToResolveSeconds": alert.time_to_resolve,
    }


def entry_document(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "at": rfc3339(entry.at),
        "kind": entry.kind,
        "channel": entry.channel,
        "actor": entry.actor,
        "detail": entry.detail,
    }


def pending_job_document(job: PendingJob) -> dict[str, Any]:
    """A notification not yet delivered: ``pending`` until ``dueAt`` (a retry, or the e-mail digest's
    time), or ``sending`` under a lease until ``dueAt``."""
    return {
        "id": job.id,
        "channel": job.channel,
        "action": job.action,
        "state": job.state,
        "dueAt": rfc3339(job.due),
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "fallback": job.fallback,
        "lastError": job.last_error,
    }
