"""Liveness and readiness: /healthz answers while the process runs, /readyz when the database does."""

from __future__ import annotations

from flask import Blueprint, current_app

from receiver.store.database import Database, DatabaseUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200


@bp.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    database: Database = current_app.extensions["database"]
    try:
        database.ping()
    except DatabaseUnavailable as exc:
        return {"status": "unavailable", "reason": str(exc)}, 503
    return {"status": "ready", "database": database.dialect}, 200
