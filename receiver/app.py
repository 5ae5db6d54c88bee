"""The receiver's Flask application factory. Nothing connects at import time."""

from __future__ import annotations

import os

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from receiver import health
from receiver.config import ReceiverConfig
from receiver.database import Database, PostgresDatabase, SqliteDatabase


def create_app(config: ReceiverConfig, database: Database | None = None) -> Flask:
    app = Flask(__name__)
    app.config["RECEIVER"] = config
    app.extensions["database"] = database or open_database(config)
    registry = CollectorRegistry()
    app.extensions["registry"] = registry
    app.register_blueprint(health.bp)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return app


def open_database(config: ReceiverConfig) -> Database:
    if config.shared.postgres_uri is not None:
        return PostgresDatabase(config.shared.postgres_uri.reveal())
    return SqliteDatabase(config.sqlite_path)


def create_app_from_environ() -> Flask:
    """gunicorn's entry: ``receiver.app:create_app_from_environ()``."""
    return create_app(ReceiverConfig.from_environ(os.environ))
