"""Fixtures shared by the integration tiers that run one contract on both SQL backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.store.database import PostgresDatabase, SqliteDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PostgresDatabase | SqliteDatabase]:
    """An empty SQLite file, or a fresh PostgreSQL database."""
    made: PostgresDatabase | SqliteDatabase
    if request.param == "sqlite":
        made = SqliteDatabase(tmp_path / "alerts.sqlite3")
    else:
        made = PostgresDatabase(request.getfixturevalue("postgres_uri"), max_size=8)  # room for threaded tests
    yield made
    made.close()
