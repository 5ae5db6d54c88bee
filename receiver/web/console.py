"""The alert console: server-rendered pages for operators who have no Grafana at hand.

- ``/console``: active alerts grouped by priority, with age and acknowledgement deadline
- ``/console/history``: recorded alerts, filtered by priority, status, alert name, service, time
- ``/console/alerts/<id>``: one alert's labels and timeline, and an acknowledge form
- ``/console/incidents``: open incidents and those resolved in the last day, probable cause first
- ``/console/incidents/<id>``: one incident: its probable cause, the alerts on the same part, its
  symptoms, its timeline, and an acknowledge form (acknowledging it acknowledges its alerts)
- ``/console/reports``: alert quality over a window (receiver/reports/), with server-drawn SVG charts

Templates are Jinja2 with autoescaping (every label and annotation is alert-controlled text).
The acknowledge form is protected by a double-submit token: a random value in an HttpOnly,
SameSite=Strict cookie that the form must echo, plus a same-origin check of ``Origin`` when
the browser sends it. Acknowledging goes through ``api.acknowledge_alert``, as the API does.

Every page needs an API key (viewer to read, operator to acknowledge; see receiver.web.access): as a
bearer header, or entered once on ``/console/login``, which keeps it in an HttpOnly,
SameSite=Strict cookie scoped to ``/console`` (Secure under TLS).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import structlog
from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from receiver.config.routing import Priority
from receiver.config.settings import WEEKDAYS
from receiver.delivery.composer import Composer
from receiver.delivery.links import Link
from receiver.delivery.message import duration_text
from receiver.reports.figures import EVERYTHING
from receiver.reports.parameters import ParameterInvalid
from receiver.store.api_keys import SqlKeyStore
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import AlertFilter, AlertHistory, AlertNotFound, AlertRecord
from receiver.store.incidents import OPEN, RESOLVED, IncidentFilter, IncidentNotFound, IncidentStore
from receiver.store.reports import GroupBy
from receiver.web import report_charts, reports_api
from receiver.web.access import CONSOLE_KEY_COOKIE
from receiver.web.api import Wiring, acknowledge_alert, acknowledge_incident

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
log = structlog.get_logger("receiver.console")

CSRF_COOKIE = "console_csrf"
PRIORITY_ORDER = tuple(Priority)
HISTORY_LIMIT = 200  # rows shown on the history page
HISTORY_SCAN_PAGES = 10  # pages of 500 read at most when filtering by alert name
RECENT_INCIDENTS = 86400.0  # resolved incidents shown on the incidents page: the last day's
WINDOWS = {"1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "all": None}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Deadline:
    """Where an alert stands against its priority's acknowledgement deadline."""

    at: float | None  # first_seen + ack_deadline; None for priorities without one
    state: str  # acknowledged | resolved | due | overdue | none
    seconds: float  # until the deadline (due) or past it (overdue)


@dataclass(frozen=True)
class Row:
    alert: AlertRecord
    age: float
    deadline: Deadline


def deadline_of(alert: AlertRecord, ack_deadline: float | None, now: float) -> Deadline:
    at = None if ack_deadline is None else alert.first_seen + ack_deadline
    if alert.acked_at is not None:
        return Deadline(at, "acknowledged", 0.0)
    if alert.status == "resolved":
        return Deadline(at, "resolved", 0.0)
    if at is None:
        return Deadline(None, "none", 0.0)
    if now < at:
        return Deadline(at, "due", at - now)
    return Deadline(at, "overdue", now - at)


def time_text(value: float | None) -> str:
    return "" if value is None else datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("duration")
def _duration_filter(seconds: float) -> str:
    return duration_text(seconds)


@bp.app_template_filter("utc")
def _utc_filter(value: float | None) -> str:
    return time_text(value)


def _wiring() -> Wiring:
    wiring: Wiring = current_app.extensions["receiver"]
    return wiring


def _history(wiring: Wiring) -> AlertHistory:
    if wiring.history is None:
        raise DatabaseUnavailable("no alert-history repository")
    return wiring.history


def _rows(wiring: Wiring, alerts: list[AlertRecord], now: float) -> list[Row]:
    def ack_deadline(alert: AlertRecord) -> float | None:
        try:
            return wiring.policy.policy(Priority(alert.priority)).ack_deadline
        except ValueError:  # a priority stored by an older policy: no deadline to show
            return None

    return [Row(a, now - a.first_seen, deadline_of(a, ack_deadline(a), now)) for a in alerts]


def _references(alert: AlertRecord) -> tuple[Link, ...]:
    """The alert's runbook, dashboard and graph links, resolved as its notifications resolve them."""
    composer: Composer | None = current_app.extensions.get("composer")
    return () if composer is None else composer.references(alert)


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.errorhandler(DatabaseUnavailable)
def _unavailable(exc: DatabaseUnavailable) -> Response:
    log.error("console page failed", reason=str(exc))
    return _page("console/error.html", 503, message="The alert history is unavailable; try again shortly.")


@bp.errorhandler(AlertNotFound)
def _not_found(_exc: AlertNotFound) -> Response:
    return _page("console/error.html", 404, message="No such alert.")


@bp.errorhandler(IncidentNotFound)
def _no_incident(_exc: IncidentNotFound) -> Response:
    return _page("console/error.html", 404, message="No such incident.")


def _incidents(wiring: Wiring) -> IncidentStore:
    if wiring.incidents is None:
        raise DatabaseUnavailable("no incident store")
    return wiring.incidents


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> Response:
    return _page("console/error.html", 400, message=exc.description or "Bad request.")


@bp.get("/")
def active() -> Response:
    wiring = _wiring()
    now = wiring.clock()
    alerts = _history(wiring).alerts(AlertFilter(status="firing", limit=1000))
    rows = _rows(wiring, alerts, now)
    groups = [(p.value, [r for r in rows if r.alert.priority == p.value]) for p in PRIORITY_ORDER]
    return _page("console/active.html", groups=groups, total=len(rows), now=now)


@bp.get("/history")
def history() -> Response:
    wiring = _wiring()
    now = wiring.clock()
    args = request.args
    priority = args.get("priority") or None
    status = args.get("status") or None
    alertname = (args.get("alertname") or "").strip() or None
    service = (args.get("service") or "").strip() or None
    window = args.get("window") or "24h"
    if priority is not None and priority not in {p.value for p in Priority}:
        raise BadRequest("priority: expected critical, high, medium or low")
    if status is not None and status not in ("firing", "resolved"):
        raise BadRequest("status: expected firing or resolved")
    if window not in WINDOWS:
        raise BadRequest(f"window: expected one of {', '.join(WINDOWS)}")
    span = WINDOWS[window]
    query = AlertFilter(
        status=status, priority=priority, service=service, since=None if span is None else now - span, limit=500
    )
    alerts = _matching(_history(wiring), query, lambda a: alertname is None or a.alertname == alertname)
    filters = {"priority": priority, "status": status, "alertname": alertname, "service": service, "window": window}
    return _page(
        "console/history.html",
        rows=_rows(wiring, alerts, now),
        references={a.id: _references(a) for a in alerts},
        filters=filters,
        priorities=[p.value for p in PRIORITY_ORDER],
        windows=list(WINDOWS),
        limit=HISTORY_LIMIT,
    )


def _matching(history: AlertHistory, query: AlertFilter, keep: Callable[[AlertRecord], bool]) -> list[AlertRecord]:
    """Up to HISTORY_LIMIT alerts that pass ``keep``, newest first, reading a bounded number of pages."""
    out: list[AlertRecord] = []
    for _ in range(HISTORY_SCAN_PAGES):
        page = history.alerts(query)
        out += [a for a in page if keep(a)]
        if len(out) >= HISTORY_LIMIT or len(page) < query.limit:
            break
        query = AlertFilter(**{**query.__dict__, "after_id": page[-1].id})
    return out[:HISTORY_LIMIT]


@bp.get("/alerts/<int:alert_id>")
def alert(alert_id: int) -> Response:
    wiring = _wiring()
    now = wiring.clock()
    history = _history(wiring)
    record, timeline = history.alert(alert_id)
    pending = history.pending_jobs(alert_id)
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _page(
        "console/alert.html",
        row=_rows(wiring, [record], now)[0],
        timeline=timeline,
        pending=pending,
        references=_references(record),
        now=now,
        csrf_token=token,
        acked=request.args.get("acked") == "1",
        incident_id=None if wiring.incidents is None else wiring.incidents.incident_of(alert_id),
    )
    return _with_csrf_cookie(response, token)


def _with_csrf_cookie(response: Response, token: str) -> Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/console")
    return response


@bp.get("/incidents")
def incidents() -> Response:
    wiring = _wiring()
    now = wiring.clock()
    store = _incidents(wiring)
    open_ = store.incidents(IncidentFilter(status=OPEN, limit=500))
    recent = store.incidents(IncidentFilter(status=RESOLVED, since=now - RECENT_INCIDENTS, limit=200))
    order = {p.value: i for i, p in enumerate(PRIORITY_ORDER)}
    open_.sort(key=lambda i: (order.get(i.priority, 1), -i.opened_at))
    return _page("console/incidents.html", open=open_, recent=recent, now=now, recent_window=RECENT_INCIDENTS)


@bp.get("/incidents/<int:incident_id>")
def incident(incident_id: int) -> Response:
    wiring = _wiring()
    record, alerts, timeline = _incidents(wiring).incident(incident_id)
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _page(
        "console/incident.html",
        incident=record,
        alerts=alerts,
        timeline=timeline,
        now=wiring.clock(),
        csrf_token=token,
        acked=request.args.get("acked") == "1",
    )
    return _with_csrf_cookie(response, token)


@bp.get("/login")
def login() -> Response:
    return _page("console/login.html", next=_next(request.args.get("next")), failed=request.args.get("failed") == "1")


def _next(raw: str | None) -> str:
    """Only a path of this console: never an open redirect."""
    return raw if raw and raw.startswith("/console/") and not raw.startswith("//") else url_for("console.active")


@bp.post("/login")
def login_submit() -> WerkzeugResponse:
    """Check the key and keep it in an HttpOnly, SameSite=Strict cookie scoped to the console."""
    token = request.form.get("key", "").strip()
    keys: SqlKeyStore | None = current_app.extensions.get("keys")
    key = None if not token or keys is None else keys.verify(token)
    if key is None:
        log.warning("console sign-in refused", remote=request.remote_addr)
        return redirect(url_for("console.login", failed=1, next=_next(request.form.get("next"))), code=303)
    log.info("console sign-in", key_id=key.id, role=key.role.value)
    response = redirect(_next(request.form.get("next")), code=303)
    response.set_cookie(
        CONSOLE_KEY_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/console"
    )
    return response


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    response = redirect(url_for("console.login"), code=303)
    response.delete_cookie(CONSOLE_KEY_COOKIE, path="/console")
    return response


def same_origin(origin: str | None, host_url: str) -> bool:
    """True when the browser sent no Origin (older browsers, same-origin GET forms) or our own."""
    if origin is None:
        return True
    ours, theirs = urlsplit(host_url), urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def _forged(**context: int) -> Response | None:
    """A 403 page unless the form echoes the CSRF cookie and comes from this site."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    form_token = request.form.get("csrf_token", "")
    if (
        not cookie
        or not hmac.compare_digest(cookie, form_token)
        or not same_origin(request.headers.get("Origin"), request.host_url)
    ):
        log.warning("console acknowledgement refused", reason="csrf", remote=request.remote_addr, **context)
        return _page("console/error.html", 403, message="The form expired or came from another site; reload the page.")
    return None


def _who() -> str:
    who = request.form.get("who", "").strip()
    if not who:
        raise BadRequest("Say who acknowledges (the 'who' field).")
    return who


@bp.post("/alerts/<int:alert_id>/ack")
def acknowledge(alert_id: int) -> WerkzeugResponse:
    wiring = _wiring()
    refused = _forged(alert_id=alert_id)
    if refused is not None:
        return refused
    alert = acknowledge_alert(wiring, alert_id, _who(), request.form.get("comment", ""))
    log.info("alert acknowledged", alert_id=alert_id, who=alert.acked_by, via="console")
    return redirect(url_for("console.alert", alert_id=alert_id, acked=1), code=303)


@bp.post("/incidents/<int:incident_id>/ack")
def acknowledge_incident_form(incident_id: int) -> WerkzeugResponse:
    wiring = _wiring()
    refused = _forged(incident_id=incident_id)
    if refused is not None:
        return refused
    incident = acknowledge_incident(wiring, incident_id, _who(), request.form.get("comment", ""))
    log.info("incident acknowledged", incident_id=incident.id, who=incident.acked_by, via="console")
    return redirect(url_for("console.incident", incident_id=incident.id, acked=1), code=303)


REPORT_WINDOWS = (("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days"), ("90d", "last 90 days"))


@bp.app_template_filter("local")
def _local_filter(value: float, zone: str) -> str:
    return datetime.fromtimestamp(value, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")


@bp.get("/reports")
def reports() -> Response:
    """Alert quality over a window: the API's parameters, as a form; every figure and chart on one page."""
    wiring = _wiring()
    service = reports_api.reports()
    args = request.args.to_dict()
    try:
        asked = service.request(args, wiring.clock())
    except ParameterInvalid as exc:
        raise BadRequest(str(exc)) from None
    report = service.read(wiring, asked, EVERYTHING)
    return _page(
        "console/reports.html",
        report=report,
        charts=report_charts.charts(report),
        windows=REPORT_WINDOWS,
        groups=[g.value for g in GroupBy],
        form={"since": args.get("since") or "7d", "until": args.get("until") or ""},
        working_days=", ".join(WEEKDAYS[d - 1] for d in sorted(asked.working_days)),
    )
