from __future__ import annotations

import pytest

from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests.alert_quality import Seeded, seed


@pytest.fixture
def history(database: PostgresDatabase | SqliteDatabase) -> SqlAlertHistory:
    repository = SqlAlertHistory(database)
    repository.migrate()
    return repository


@pytest.fixture
def seeded(history: SqlAlertHistory) -> Seeded:
    """The week of tests/alert_quality.py, recorded on the backend under test."""
    return seed(history)


@pytest.fixture
def reports(database: PostgresDatabase | SqliteDatabase, history: SqlAlertHistory) -> SqlReports:
    return SqlReports(database)
