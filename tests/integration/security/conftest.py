from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.database import PostgresDatabase, SqliteDatabase
from receiver.sql_history import SqlAlertHistory


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PostgresDatabase | SqliteDatabase]:
    """A migrated SQLite file, or a fresh migrated PostgreSQL database."""
    made: PostgresDatabase | SqliteDatabase
    if request.param == "sqlite":
        made = SqliteDatabase(tmp_path / "alerts.sqlite3")
    else:
        made = PostgresDatabase(request.getfixturevalue("postgres_uri"))
    SqlAlertHistory(made).migrate()
    yield made
    made.close()
