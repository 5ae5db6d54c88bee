from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory
from tests.unit.receiver.fakes import FakeClock

STARTS = datetime(2026, 11, 26, 8, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def database(database: PostgresDatabase | SqliteDatabase) -> PostgresDatabase | SqliteDatabase:
    """The integration tiers' two backends (tests/integration/conftest.py), migrated to the latest schema."""
    SqlAlertHistory(database).migrate()
    return database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=STARTS + 30)


def observation(n: int = 0, kind: str = "threshold", status: str = "firing", **changes: object) -> Observation:
    """Alert ``n``: a distinct fingerprint, starting one second after alert ``n - 1``."""
    obs = Observation(
        fingerprint=f"{n:016x}",
        starts_at=STARTS + n,
        alertname=f"Alert{n}",
        status=status,
        priority="high",
        priority_defaulted=False,
        service="portfolio-service",
        labels={"alertname": f"Alert{n}", "service": "portfolio-service", "priority": "high", "kind": kind},
        annotations={"summary": "s"},
        generator_url="http://prometheus/graph",
        ends_at=STARTS + n + 60 if status == "resolved" else None,
        content_hash="h",
        channels=(),
        retry_budget=3,
        ack_deadline=None,
    )
    return dataclasses.replace(obs, **changes)  # type: ignore[arg-type]
