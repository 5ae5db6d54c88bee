from __future__ import annotations

import pytest

from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory


@pytest.fixture
def database(database: PostgresDatabase | SqliteDatabase) -> PostgresDatabase | SqliteDatabase:
    """The shared empty database (SQLite or PostgreSQL), migrated to the latest schema."""
    SqlAlertHistory(database).migrate()
    return database
