from __future__ import annotations

import pytest

from receiver.database import PostgresDatabase, SqliteDatabase
from receiver.sql_history import SqlAlertHistory


@pytest.fixture
def database(database: PostgresDatabase | SqliteDatabase) -> PostgresDatabase | SqliteDatabase:
    """The shared empty database (SQLite or PostgreSQL), migrated to the latest schema."""
    SqlAlertHistory(database).migrate()
    return database
