"""One-click acknowledge: the page a notification's Acknowledge link opens, and its button.

``GET /console/ack/<token>`` only shows: the alert, and a form whose one button acknowledges it.
Opening the link changes nothing, because chat unfurlers and mail scanners open links too.
``POST /console/ack/<token>`` acknowledges, with the console's double-submit CSRF check. The
signed token (``receiver.delivery.ack_links``) authorizes exactly that, for exactly its alert,
without an API key: it is checked again on the POST and used up in the acknowledgement's own
transaction, so a second use changes nothing. Who acknowledged is the signed-in key's name, or
the name typed into the form. Acknowledging goes through ``api.acknowledge_alert`` (timeline,
audit log, escalation stops, PagerDuty acknowledge), as the API and the console do.

An expired, tampered or used link gets a page that says so, changes nothing, and is counted in
``receiver_ack_links_refused_total{reason}``.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

import structlog
from flask import Blueprint, Response, current_app, make_response, render_template, request
from prometheus_client import CollectorRegistry, Counter

from receiver.delivery.ack_links import EXPIRED, INVALID, AckLinkRefused, AckLinks, AckToken
from receiver.delivery.message import one_line
from receiver.store import audit
from receiver.store.api_keys import SqlKeyStore
from receiver.store.audit import AuditContext
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import AckLinkUsed, AlertHistory, AlertNotFound, AlertRecord
from receiver.web.access import signed_in_key
from receiver.web.api import Wiring, acknowledge_alert
from receiver.web.console import CSRF_COOKIE, SECURITY_HEADERS, same_origin

bp = Blueprint("ack_links", __name__, url_prefix="/console/ack", template_folder="templates")
log = structlog.get_logger("receiver.ack_links")

REPLAYED, UNKNOWN_ALERT = "replayed", "unknown_alert"
WHO_LIMIT, COMMENT_LIMIT = 100, 500
LINK_ACTOR = "ack-link"  # the audit log's actor when nobody is signed in: the link itself authorized it
STATUS = {EXPIRED: 410, INVALID: 400, REPLAYED: 409, UNKNOWN_ALERT: 404}


class AckLinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "receiver_ack_links_refused_total",
            "One-click acknowledge links refused (expired, invalid, replayed, unknown_alert); nothing changed",
            ["reason"],
            registry=registry,
        )
        for reason in STATUS:  # each reason's series exists (at 0) before the first refusal
            self.refused.labels(reason)
        self.acknowledged = Counter(
            "receiver_ack_links_acknowledged_total", "Alerts acknowledged through a one-click link", registry=registry
        )


def _page(status: int = 200, **context: object) -> Response:
    response = make_response(render_template("console/ack.html", **context), status)
    # SECURITY_HEADERS' Referrer-Policy same-origin: the token in the URL never goes to another site.
    # (no-referrer would also make browsers send "Origin: null" with the form, which the CSRF check refuses.)
    response.headers.update(SECURITY_HEADERS)
    return response


def _metrics() -> AckLinkMetrics:
    metrics: AckLinkMetrics = current_app.extensions["ack_link_metrics"]
    return metrics


def _refused(reason: str, message: str, alert: AlertRecord | None = None) -> Response:
    """The page that says why the link cannot acknowledge; counted, and audit-logged when it was the button."""
    _metrics().refused.labels(reason).inc()
    log.warning("acknowledge link refused", reason=reason, remote=request.remote_addr)
    wiring: Wiring = current_app.extensions["receiver"]
    if request.method == "POST" and wiring.audit_log is not None:
        target = f"alert:{alert.id}" if alert is not None else "alert:unknown"
        wiring.audit_log.record(LINK_ACTOR, audit.ACKNOWLEDGE, target, request.remote_addr or "", audit.FAILED, message)
    return _page(STATUS[reason], refused=reason, message=message, alert=alert)


def _history() -> AlertHistory:
    wiring: Wiring = current_app.extensions["receiver"]
    if wiring.history is None:
        raise DatabaseUnavailable("no alert-history repository")
    return wiring.history


def _verify(token: str) -> AckToken:
    links: AckLinks | None = current_app.extensions.get("ack_links")
    if links is None:
        raise AckLinkRefused(INVALID, "acknowledge links are not enabled on this receiver")
    return links.verify(token)


def _keys() -> SqlKeyStore | None:
    keys: SqlKeyStore | None = current_app.extensions.get("keys")
    return keys


@bp.errorhandler(DatabaseUnavailable)
def _unavailable(exc: DatabaseUnavailable) -> Response:
    log.error("acknowledge page failed", reason=str(exc))
    return _page(503, message="The alert history is unavailable; nothing changed. Try again shortly.", refused="")


def _checked(token: str) -> tuple[AckToken, AlertRecord] | Response:
    """The token's alert, or the page that refuses it (expired, invalid, used, unknown alert)."""
    try:
        checked = _verify(token)
    except AckLinkRefused as exc:
        return _refused(exc.reason, f"This acknowledge link cannot be used: {exc}. Nothing changed.")
    try:
        alert, _ = _history().alert(checked.alert_id)
    except AlertNotFound:
        return _refused(UNKNOWN_ALERT, "The alert of this link no longer exists. Nothing changed.")
    used = _history().ack_link_use(checked.token_id)
    if used is not None:
        message = f"This link was used already, by {used.used_by}. Each link acknowledges once. Nothing changed."
        return _refused(REPLAYED, message, alert)
    return checked, alert


@bp.get("/<token>")
def page(token: str) -> Response:
    checked = _checked(token)
    if isinstance(checked, Response):
        return checked
    _, alert = checked
    key = signed_in_key(_keys())
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _page(alert=alert, who=key.name if key is not None else None, csrf_token=csrf, refused="")
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.is_secure, path="/console"
        )
    return response


def _same_site() -> bool:
    """The form came from this receiver, as the browser reached it or as RECEIVER_EXTERNAL_URL names it."""
    origin = request.headers.get("Origin")
    wiring: Wiring = current_app.extensions["receiver"]
    external = wiring.config.notifications.external_url
    if same_origin(origin, request.host_url):
        return True
    return (
        external is not None
        and origin is not None
        and same_origin(origin, f"{urlsplit(external)._replace(path='').geturl()}/")
    )


@bp.post("/<token>")
def acknowledge(token: str) -> Response:
    cookie, form_token = request.cookies.get(CSRF_COOKIE, ""), request.form.get("csrf_token", "")
    if not cookie or not hmac.compare_digest(cookie, form_token) or not _same_site():
        log.warning("acknowledge link refused", reason="csrf", remote=request.remote_addr)
        return _page(403, message="The form expired or came from another site; open the link again.", refused="")
    checked = _checked(token)
    if isinstance(checked, Response):
        return checked
    link, alert = checked
    key = signed_in_key(_keys())
    who = key.name if key is not None else one_line(request.form.get("who", ""))
    if not 0 < len(who) <= WHO_LIMIT:
        return _page(
            400, alert=alert, who=None, csrf_token=cookie, refused="",
            message=f"Type your name (1 to {WHO_LIMIT} characters) so the timeline says who acknowledged.",
        )  # fmt: skip
    comment = one_line(request.form.get("comment", ""))[:COMMENT_LIMIT]
    actor = AuditContext(key.id if key is not None else LINK_ACTOR, request.remote_addr or "")
    wiring: Wiring = current_app.extensions["receiver"]
    detail = f"via the acknowledge link{f': {comment}' if comment else ''}"
    try:
        acked = acknowledge_alert(wiring, link.alert_id, who, detail, actor=actor, link=link.token_id)
    except AckLinkUsed:  # the same link used at the same moment in another tab or by another worker
        _metrics().refused.labels(REPLAYED).inc()  # acknowledge_alert audit-logged the refusal
        message = "This link was used already. Each link acknowledges once. Nothing changed."
        return _page(STATUS[REPLAYED], refused=REPLAYED, message=message, alert=alert)
    except AlertNotFound:
        return _refused(UNKNOWN_ALERT, "The alert of this link no longer exists. Nothing changed.")
    _metrics().acknowledged.inc()
    log.info("alert acknowledged", alert_id=link.alert_id, who=who, via="ack-link", key_id=actor.actor)
    return _page(alert=acked, done=True, who=who, refused="")
