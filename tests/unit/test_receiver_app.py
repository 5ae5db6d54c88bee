from __future__ import annotations

from pathlib import Path

from receiver.config.settings import ReceiverConfig
from receiver.store.database import DatabaseUnavailable
from receiver.web.app import create_app


class UnreachableDatabase:
    dialect = "postgresql"

    def ping(self) -> None:
        raise DatabaseUnavailable("PostgreSQL unreachable: OperationalError")


def test_readiness_follows_the_database(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ({"RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3")})
    client = create_app(config).test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "database": "sqlite"}


def test_an_unreachable_database_makes_the_receiver_unready_but_alive(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ({})
    client = create_app(config, database=UnreachableDatabase()).test_client()
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json is not None
    assert "unreachable" in response.json["reason"]


def test_metrics_are_served_in_the_prometheus_format(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ({"RECEIVER_SQLITE_PATH": str(tmp_path / "a.sqlite3")})
    response = create_app(config).test_client().get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
