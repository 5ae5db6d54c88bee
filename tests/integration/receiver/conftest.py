from __future__ import annotations

import pytest

from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory


@pytest.fixture
def history(database: PostgresDatabase | SqliteDatabase) -> SqlAlertHistory:
    """The repository on either backend, with the schema migrated to the latest version."""
    repository = SqlAlertHistory(database)
    repository.migrate()
    return repository
