"""The receiver app owns an alert-retention thread that purges with RETENTION_ALERTS (SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from receiver.config.settings import ReceiverConfig
from receiver.store.history import AlertFilter
from receiver.store.retention import AlertRetention
from receiver.store.sql_history import SqlAlertHistory
from receiver.web.app import create_app
from tests.integration.receiver.test_history_contract import NOW, obs

DAY = 86400.0


def test_the_apps_retention_thread_purges_alerts_older_than_the_configured_retention(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ(
        {
            "RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3"),
            "RETENTION_ALERTS": "7d",
            "RECEIVER_DOMAIN_EVENTS": "false",
        }
    )
    app = create_app(config, clock=lambda: NOW)
    database = app.extensions["database"]
    history = SqlAlertHistory(database)
    history.record([obs("EightDaysOld", starts_at=NOW - 8 * DAY)], NOW - 8 * DAY)
    history.record([obs("SixDaysOld", starts_at=NOW - 6 * DAY)], NOW - 6 * DAY)
    retention = app.extensions["retention"]
    assert isinstance(retention, AlertRetention)
    retention.start()  # as the delivery process does; the first purge runs at once
    try:
        deadline = time.monotonic() + 10
        names = {a.alertname for a in history.alerts(AlertFilter())}
        while "EightDaysOld" in names and time.monotonic() < deadline:
            time.sleep(0.05)
            names = {a.alertname for a in history.alerts(AlertFilter())}
    finally:
        retention.stop()
    assert names == {"SixDaysOld"}
