from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.database import PostgresDatabase, SqliteDatabase
from receiver.sql_history import SqlAlertHistory


@pytest.fixture(params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlAlertHistory]:
    """The same repository on a SQLite file and on a fresh PostgreSQL database."""
    database: PostgresDatabase | SqliteDatabase
    if request.param == "sqlite":
        database = SqliteDatabase(tmp_path / "alerts.sqlite3")
    else:
        database = PostgresDatabase(request.getfixturevalue("postgres_uri"))
    repository = SqlAlertHistory(database)
    repository.migrate()
    yield repository
    database.close()
