from __future__ import annotations

from pathlib import Path

import pytest

from receiver.store.sql_history import SqlAlertHistory
from tests.alert_quality import kst, seed
from tests.unit.receiver.conftest import Receiver, build_receiver

WEEK = {"since": "2026-03-02", "until": "2026-03-09"}  # Seoul dates: Monday to Monday


@pytest.fixture
def seeded(tmp_path: Path) -> Receiver:
    """The receiver (SQLite) holding the week of tests/alert_quality.py, its clock the Monday after."""
    r = build_receiver(tmp_path)
    history = r.app.extensions["receiver"].history
    assert isinstance(history, SqlAlertHistory)
    seed(history)
    r.clock.now = kst(9, "12:00")
    return r
