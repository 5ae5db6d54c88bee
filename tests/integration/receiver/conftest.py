from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.database import PostgresDatabase, SqliteDatabase
from receiver.sql_history import SqlAlertHistory


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PostgresDatabase | SqliteDatabase]:
    """An empty SQLite file, or a fresh PostgreSQL database."""
    made: PostgresDatabase | SqliteDatabase
    if request.param == "sqlite":
        made = SqliteDatabase(tmp_path / "alerts.sqlite3")
    else:
        made = PostgresDatabase(request.getfixturevalue("postgres_uri"))
    yield made
    made.close()


@pytest.fixture
def history(database: PostgresDatabase | SqliteDatabase) -> SqlAlertHistory:
    """The repository on either backend, with the schema migrated to the latest version."""
    repository = SqlAlertHistory(database)
    repository.migrate()
    return repository
