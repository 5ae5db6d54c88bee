"""Admin routes: the audit log, API keys, and reloading the routing policy (all admin-only, see receiver.web.access)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from flask import Blueprint, Response, current_app, jsonify, request

from monitoring.settings import ConfigError
from receiver.store import audit
from receiver.store.api_keys import ApiKey, KeyNotFound, Role, SqlKeyStore
from receiver.store.audit import OUTCOMES, AuditEntry, AuditFilter, AuditLog
from receiver.store.database import DatabaseUnavailable
from receiver.web import access
from receiver.web.json_errors import error_response
from receiver.web.query_params import moment, page, rfc3339

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")
log = structlog.get_logger("receiver.admin")


@dataclass(frozen=True)
class Admin:
    """What these routes need, built by the application factory."""

    audit_log: AuditLog | None
    keys: SqlKeyStore | None
    reload: Callable[[], str]  # re-reads the routing policy; returns what it loaded; raises ConfigError


def _admin() -> Admin:
    admin: Admin = current_app.extensions["admin"]
    return admin


def _source() -> str:
    return request.remote_addr or ""


@bp.get("/audit")
def audit_entries() -> Response:
    admin = _admin()
    try:
        query = audit_filter(request.args.to_dict())
    except ValueError as exc:
        return error_response(400, str(exc))
    if admin.audit_log is None:
        return error_response(503, "audit log unavailable")
    try:
        entries = admin.audit_log.entries(query)
    except DatabaseUnavailable:
        return error_response(503, "audit log unavailable; retry later")
    next_cursor = entries[-1].id if len(entries) == query.limit else None
    return jsonify({"entries": [entry_document(e) for e in entries], "next": next_cursor})


def audit_filter(args: dict[str, str]) -> AuditFilter:
    unknown = set(args) - {"actor", "action", "outcome", "since", "until", "limit", "after"}
    if unknown:
        raise ValueError(f"unknown query parameters: {', '.join(sorted(unknown))}")
    outcome = args.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome: expected one of {', '.join(OUTCOMES)}")
    limit, after_id = page(args)
    return AuditFilter(
        actor=args.get("actor"),
        action=args.get("action"),
        outcome=outcome,
        since=moment(args.get("since"), "since"),
        until=moment(args.get("until"), "until"),
        limit=limit,
        after_id=after_id,
    )


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": rfc3339(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "source": entry.source,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }


def key_document(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "createdAt": rfc3339(key.created_at),
        "revokedAt": rfc3339(key.revoked_at),
    }


@bp.post("/config/reload")
def reload_config() -> Response:
    admin = _admin()
    actor = access.current_key().id
    try:
        loaded = admin.reload()
    except ConfigError as exc:
        if admin.audit_log is not None:
            admin.audit_log.record(actor, audit.CONFIG_RELOAD, "routing", _source(), audit.FAILED, str(exc))
        log.warning("configuration reload refused", key_id=actor, error=str(exc))
        return error_response(400, f"configuration not reloaded: {exc}")
    if admin.audit_log is not None:
        admin.audit_log.record(actor, audit.CONFIG_RELOAD, "routing", _source(), audit.SUCCESS, loaded)
    log.info("configuration reloaded", key_id=actor, routing=loaded)
    return jsonify({"reloaded": loaded})


def _keys(admin: Admin) -> SqlKeyStore:
    if admin.keys is None:
        raise DatabaseUnavailable("no key store")
    return admin.keys


@bp.get("/keys")
def list_keys() -> Response:
    try:
        keys = _keys(_admin()).list_keys()
    except DatabaseUnavailable:
        return error_response(503, "key store unavailable; retry later")
    return jsonify({"keys": [key_document(k) for k in keys]})


@bp.post("/keys")
def create_key() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
        return error_response(400, "expected a JSON object with a non-empty string 'name' and a 'role'")
    try:
        role = Role(str(body.get("role")))
    except ValueError:
        return error_response(400, "role: expected viewer, operator or admin")
    try:
        created = _keys(_admin()).create(body["name"], role, access.current_key().id, _source())
    except DatabaseUnavailable:
        return error_response(503, "key store unavailable; retry later")
    log.info("api key created", key_id=created.key.id, role=role.value, by=access.current_key().id)
    response = jsonify({**key_document(created.key), "token": created.token})
    response.status_code = 201
    return response


@bp.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    try:
        key = _keys(_admin()).revoke(key_id, access.current_key().id, _source())
    except KeyNotFound:
        return error_response(404, f"no active key with id {key_id}")
    except DatabaseUnavailable:
        return error_response(503, "key store unavailable; retry later")
    log.info("api key revoked", key_id=key_id, by=access.current_key().id)
    return jsonify(key_document(key))
