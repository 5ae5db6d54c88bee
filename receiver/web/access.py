"""Who may call which route: one declarative map, checked before every request. Default deny.

Each Flask endpoint names what it requires: ``PUBLIC`` (health probes, the console's login form),
``WEBHOOK`` (Alertmanager's own credential: RECEIVER_WEBHOOK_TOKEN or basic auth), or the lowest
API-key ``Role`` allowed. An endpoint missing from the map requires ``Role.ADMIN``, so a route
added later is closed until someone opens it on purpose.

API keys come as ``Authorization: Bearer <id>.<secret>``; the console also accepts the key from
its login cookie. A missing key, an unknown id, a revoked key and a wrong secret all get the same
401 with the same body; a valid key whose role is too low gets 403 (and a ``denied`` audit entry
when the request would have changed state).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Final

import structlog
from flask import Flask, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from receiver.config.settings import ReceiverConfig
from receiver.intake.metrics import IntakeMetrics
from receiver.store import audit
from receiver.store.api_keys import ApiKey, Role, SqlKeyStore
from receiver.store.audit import AuditLog
from receiver.store.database import DatabaseUnavailable
from receiver.web.json_errors import error_response

log = structlog.get_logger("receiver.access")

PUBLIC: Final = "public"
WEBHOOK: Final = "webhook"
Requirement = Role | str

CONSOLE_KEY_COOKIE = "console_key"
UNAUTHORIZED = "missing or wrong credentials"

# Endpoint -> requirement. Anything absent is admin-only.
ROUTES: dict[str, Requirement] = {
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    # Prometheus scrapes it; counters only, no alert contents (docs/security.md, "Metrics").
    "metrics_endpoint": PUBLIC,
    "console.login": PUBLIC,
    "console.login_submit": PUBLIC,
    "console.logout": PUBLIC,
    # The one-click acknowledge page: its signed, single-use token authorizes acknowledging its alert.
    "ack_links.page": PUBLIC,
    "ack_links.acknowledge": PUBLIC,
    # Runbooks are documentation, linked from every notification.
    "runbooks.index": PUBLIC,
    "runbooks.page": PUBLIC,
    "api.alertmanager_webhook": WEBHOOK,
    "api.list_alerts": Role.VIEWER,
    "api.get_alert": Role.VIEWER,
    "api.acknowledge": Role.OPERATOR,
    "incidents.list_incidents": Role.VIEWER,
    "incidents.get_incident": Role.VIEWER,
    "incidents.acknowledge": Role.OPERATOR,
    "events.list_events": Role.VIEWER,
    "reports.summary": Role.VIEWER,
    "reports.hours": Role.VIEWER,
    "reports.noisiest": Role.VIEWER,
    "reports.flapping": Role.VIEWER,
    "reports.full": Role.VIEWER,
    "console.reports": Role.VIEWER,
    "console.active": Role.VIEWER,
    "console.history": Role.VIEWER,
    "console.alert": Role.VIEWER,
    "console.acknowledge": Role.OPERATOR,
    "console.incidents": Role.VIEWER,
    "console.incident": Role.VIEWER,
    "console.acknowledge_incident_form": Role.OPERATOR,
    "admin_api.audit_entries": Role.ADMIN,
    "admin_api.reload_config": Role.ADMIN,
    "admin_api.list_keys": Role.ADMIN,
    "admin_api.create_key": Role.ADMIN,
    "admin_api.revoke_key": Role.ADMIN,
}


def requirement(endpoint: str | None) -> Requirement:
    if endpoint is None:  # no route matched: let Flask answer 404/405
        return PUBLIC
    return ROUTES.get(endpoint, Role.ADMIN)


def webhook_authorized(config: ReceiverConfig, header: str | None) -> bool:
    """Alertmanager's credential. Without one configured, the webhook accepts nothing (fail closed)."""
    if header is None or not config.requires_auth:
        return False
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and config.webhook_token is not None:
        return hmac.compare_digest(value.encode(), config.webhook_token.reveal().encode())
    if scheme.lower() == "basic" and config.webhook_username is not None and config.webhook_password is not None:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user_ok = hmac.compare_digest(user.encode(), config.webhook_username.encode())
        password_ok = hmac.compare_digest(password.encode(), config.webhook_password.reveal().encode())
        return user_ok and password_ok
    return False


def _presented_key() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.blueprint == "console":
        return request.cookies.get(CONSOLE_KEY_COOKIE) or None
    return None


def signed_in_key(keys: SqlKeyStore | None) -> ApiKey | None:
    """The valid key a public route's caller presents (bearer header or the console's cookie), if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" and value.strip() else request.cookies.get(CONSOLE_KEY_COOKIE)
    return None if not token or keys is None else keys.verify(token)


def current_key() -> ApiKey:
    """The key that authenticated this request (routes that require a role only)."""
    key: ApiKey = g.api_key
    return key


def install(app: Flask, config: ReceiverConfig, keys: SqlKeyStore | None, audit_log: AuditLog | None) -> None:
    """Check every request against ``ROUTES`` before its view runs."""
    if not config.requires_auth:
        log.warning("no webhook credential configured: the webhook refuses every request")

    @app.before_request
    def check_access() -> Response | WerkzeugResponse | None:
        needed = requirement(request.endpoint)
        if needed == PUBLIC:
            return None
        if needed == WEBHOOK:
            if webhook_authorized(config, request.headers.get("Authorization")):
                return None
            metrics: IntakeMetrics = app.extensions["receiver"].metrics
            metrics.webhooks_rejected.labels("unauthorized").inc()
            log.warning("webhook rejected", reason="unauthorized", remote=request.remote_addr)
            return error_response(401, UNAUTHORIZED, **{"WWW-Authenticate": 'Bearer realm="receiver"'})
        assert isinstance(needed, Role)
        token = _presented_key()
        try:
            key = None if token is None or keys is None else keys.verify(token)
        except DatabaseUnavailable:
            return error_response(503, "credentials cannot be checked now; retry later", **{"Retry-After": "5"})
        if key is None:
            log.warning("request refused", reason="unauthenticated", path=request.path, remote=request.remote_addr)
            if request.blueprint == "console" and request.method == "GET":
                return redirect(url_for("console.login", next=request.path), code=303)
            return error_response(401, UNAUTHORIZED, **{"WWW-Authenticate": 'Bearer realm="receiver"'})
        if not key.role.allows(needed):
            log.warning("request refused", reason="role", key_id=key.id, role=key.role.value, path=request.path)
            if request.method not in ("GET", "HEAD", "OPTIONS") and audit_log is not None:
                audit_log.record(
                    key.id,
                    f"{request.method} {request.url_rule.rule if request.url_rule else request.path}",
                    request.path,
                    request.remote_addr or "",
                    audit.DENIED,
                    f"role {key.role.value}, needs {needed.value}",
                )
            return error_response(403, f"this key's role ({key.role.value}) may not do this; it needs {needed.value}")
        g.api_key = key
        return None
