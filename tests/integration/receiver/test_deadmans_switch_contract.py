"""The dead man's switch storage contract, run against SQLite and PostgreSQL (fresh database per test)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from receiver.config.routing import RoutingPolicy
from receiver.delivery.deadmans_switch import ALERTNAME, DeadMansSwitch
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from receiver.store.history import AlertFilter, Observation, SwitchState
from receiver.store.migrations import MIGRATIONS
from receiver.store.sql_history import SqlAlertHistory

NOW = 1_772_442_000.0
CHANNELS = frozenset({"pagerduty", "slack", "sms"})


def episode(history: SqlAlertHistory, last_seen: float | None, at: float) -> Observation:
    switch = DeadMansSwitch(history, RoutingPolicy(), CHANNELS, lambda: NOW, 300.0)
    return switch.episode(last_seen, at)


def test_the_switch_starts_with_no_watchdog_and_no_episode(history: SqlAlertHistory) -> None:
    assert history.switch_state() == SwitchState(last_seen=None, episode_alert_id=None)


def test_a_watchdog_moves_last_seen_forward_only(history: SqlAlertHistory) -> None:
    assert history.watchdog_seen(NOW) is None
    history.watchdog_seen(NOW - 30)  # a late, older delivery
    assert history.switch_state() == SwitchState(last_seen=NOW, episode_alert_id=None)


def test_opening_a_silence_stores_the_alert_and_its_critical_jobs_once(history: SqlAlertHistory) -> None:
    history.watchdog_seen(NOW)
    opened = history.open_silence(episode(history, NOW, NOW + 300), NOW, NOW + 300)
    assert opened is not None
    assert history.open_silence(episode(history, NOW, NOW + 330), NOW, NOW + 330) is None
    assert history.switch_state() == SwitchState(last_seen=NOW, episode_alert_id=opened)
    [alert] = history.alerts(AlertFilter())
    assert (alert.id, alert.alertname, alert.status, alert.priority) == (opened, ALERTNAME, "firing", "critical")
    assert [(c, a, s) for c, a, s, _ in history.jobs_by_state()] == [
        ("pagerduty", "trigger", "pending"),
        ("slack", "trigger", "pending"),
        ("sms", "trigger", "pending"),
    ]


def test_a_watchdog_read_before_the_claim_makes_the_claim_fail(history: SqlAlertHistory) -> None:
    history.watchdog_seen(NOW)
    history.watchdog_seen(NOW + 299)  # arrived between the check's read and its claim
    assert history.open_silence(episode(history, NOW, NOW + 300), NOW, NOW + 300) is None
    assert history.alerts(AlertFilter()) == []


def test_the_next_watchdog_resolves_the_episode_on_the_trigger_channels(history: SqlAlertHistory) -> None:
    opened = history.open_silence(episode(history, None, NOW), None, NOW)
    assert history.watchdog_seen(NOW + 90) == opened
    assert history.watchdog_seen(NOW + 150) is None
    assert opened is not None
    alert, timeline = history.alert(opened)
    assert (alert.status, alert.resolved_at) == ("resolved", NOW + 90)
    assert [e.kind for e in timeline] == ["received", "resolved"]
    assert [(c, a) for c, a, _, _ in history.jobs_by_state()] == [
        ("pagerduty", "trigger"),
        ("slack", "trigger"),
        ("sms", "trigger"),
        ("pagerduty", "resolve"),
        ("slack", "resolve"),
        ("sms", "resolve"),
    ]
    assert history.switch_state() == SwitchState(last_seen=NOW + 150, episode_alert_id=None)
    assert history.due_escalations(NOW + 10_000, 10) == []


def test_the_alert_its_jobs_and_the_claim_commit_together(history: SqlAlertHistory) -> None:
    broken = replace(episode(history, None, NOW), retry_budget=None)  # type: ignore[arg-type]  # max_attempts NOT NULL: the jobs fail
    with pytest.raises(DatabaseUnavailable):
        history.open_silence(broken, None, NOW)
    assert history.switch_state() == SwitchState(last_seen=None, episode_alert_id=None)
    assert history.alerts(AlertFilter()) == []
    assert history.open_silence(episode(history, None, NOW), None, NOW) is not None


def test_concurrent_claims_open_exactly_one_episode(history: SqlAlertHistory) -> None:
    history.watchdog_seen(NOW)
    results: list[int | None] = []
    barrier = threading.Barrier(6)

    def claim(n: int) -> None:
        barrier.wait(10)
        results.append(history.open_silence(episode(history, NOW, NOW + 300 + n), NOW, NOW + 300 + n))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 6
    assert len([r for r in results if r is not None]) == 1
    assert len(history.alerts(AlertFilter())) == 1
    assert len(list(history.jobs_by_state())) == 3


def test_migrating_from_version_2_adds_the_switch_and_keeps_the_alerts(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    fresh = SqlAlertHistory(database)
    assert fresh.migrate(target=2) == 2
    opened = episode(fresh, None, NOW)
    fresh.record([opened], NOW)
    assert fresh.migrate() == MIGRATIONS[-1].version
    assert fresh.switch_state() == SwitchState(last_seen=None, episode_alert_id=None)
    assert [a.alertname for a in fresh.alerts(AlertFilter())] == [ALERTNAME]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_switches_of_four_instances_with_their_own_connections_open_one_episode(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    def connect() -> PostgresDatabase | SqliteDatabase:
        if backend == "sqlite":
            return SqliteDatabase(tmp_path / "shared.sqlite3")
        return PostgresDatabase(request.getfixturevalue("postgres_uri"))

    databases = [connect() for _ in range(4)]
    try:
        stores = [SqlAlertHistory(db) for db in databases]
        stores[0].migrate()
        stores[0].watchdog_seen(NOW)
        switches = [DeadMansSwitch(s, RoutingPolicy(), CHANNELS, lambda: NOW + 301, 300.0) for s in stores]
        for switch in switches:
            switch.started = NOW  # every instance started before the last Watchdog
        opened: list[int | None] = []
        barrier = threading.Barrier(len(switches))

        def check(switch: DeadMansSwitch) -> None:
            barrier.wait(10)
            opened.append(switch.check())

        threads = [threading.Thread(target=check, args=(s,)) for s in switches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(opened) == 4
        assert len([o for o in opened if o is not None]) == 1
        assert len(list(stores[1].jobs_by_state())) == 3
    finally:
        for db in databases:
            db.close()
