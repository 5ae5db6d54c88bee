"""The dead man's switch: Watchdog is a heartbeat; its silence pages the critical channels once, directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from receiver.config.settings import ReceiverConfig
from receiver.delivery.deadmans_switch import ALERTNAME
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import T0, alert, body

URL = "/api/v1/alerts/alertmanager"
WINDOW = 300.0


def watchdog(status: str = "firing") -> bytes:
    return body(alert("Watchdog", "low", status=status, service="monitoring"))


@pytest.fixture
def receiver(tmp_path: Path) -> Receiver:
    return build_receiver(tmp_path, {"RECEIVER_DEADMANS_SWITCH": "on", "RECEIVER_DEADMANS_WINDOW": "5m"})


def alerts(r: Receiver, path: str = "/api/v1/alerts") -> Any:
    return r.client.get(path).get_json()


def sent(r: Receiver) -> dict[str, list[tuple[str, str]]]:
    return {name: ch.actions() for name, ch in r.channels.items() if ch.sent}


def test_watchdog_is_recorded_but_never_stored_as_an_alert_nor_routed(receiver: Receiver) -> None:
    response = receiver.client.post(URL, data=watchdog())
    assert response.status_code == 200
    assert response.json == {"new": 0, "updated": 0, "jobs": 0}
    receiver.worker.drain()
    assert sent(receiver) == {}
    assert receiver.client.get("/api/v1/alerts").json == {"alerts": [], "next": None}
    assert receiver.metric("receiver_watchdogs_received_total") == 1
    assert receiver.metric("receiver_watchdog_last_seen_timestamp_seconds") == T0
    assert receiver.metric("receiver_deadmans_switch_firing") == 0


def test_a_watchdog_next_to_a_real_alert_leaves_the_real_alert_routed(receiver: Receiver) -> None:
    both = body(alert("Watchdog", "low", service="monitoring"), alert("DiskFull", "medium"))
    assert receiver.client.post(URL, data=both).json == {"new": 1, "updated": 0, "jobs": 2}
    receiver.worker.drain()
    assert sent(receiver) == {"slack": [("DiskFull", "trigger")], "email": [("DiskFull", "trigger")]}


def test_steady_watchdogs_keep_the_switch_quiet(receiver: Receiver) -> None:
    for _ in range(10):
        receiver.client.post(URL, data=watchdog())
        receiver.clock.advance(60)
        receiver.worker.drain()
    assert sent(receiver) == {}


def test_silence_longer_than_the_window_pages_the_critical_channels_exactly_once(receiver: Receiver) -> None:
    receiver.client.post(URL, data=watchdog())
    receiver.clock.advance(WINDOW - 1)
    receiver.worker.drain()
    assert sent(receiver) == {}
    receiver.clock.advance(1)
    for _ in range(5):  # more passes, more minutes of silence: still one page
        receiver.worker.drain()
        receiver.clock.advance(30)
    page = [(ALERTNAME, "trigger")]
    assert sent(receiver) == {"pagerduty": page, "slack": page, "sms": page}
    notification = receiver.channels["slack"].sent[0]
    assert notification.alert.annotations["summary"] == (
        "monitoring pipeline broken: no Watchdog from Alertmanager since 2026-03-02T09:00:00Z"
    )
    assert notification.alert.priority == "critical"
    assert receiver.metric("receiver_deadmans_switch_firing") == 1


def test_before_the_first_watchdog_the_window_counts_from_start(receiver: Receiver) -> None:
    receiver.clock.advance(WINDOW - 1)
    receiver.worker.drain()
    assert sent(receiver) == {}
    receiver.clock.advance(1)
    receiver.worker.drain()
    assert [n.alert.annotations["summary"] for n in receiver.channels["sms"].sent] == [
        "monitoring pipeline broken: no Watchdog from Alertmanager "
        "since the receiver started at 2026-03-02T09:00:00Z (none seen yet)"
    ]


def test_watchdog_coming_back_resolves_the_episode_on_the_same_channels(receiver: Receiver) -> None:
    receiver.clock.advance(WINDOW)
    receiver.worker.drain()
    receiver.clock.advance(120)
    assert receiver.client.post(URL, data=watchdog()).status_code == 200
    receiver.worker.drain()
    episode = [(ALERTNAME, "trigger"), (ALERTNAME, "resolve")]
    assert sent(receiver) == {"pagerduty": episode, "slack": episode, "sms": episode}
    assert receiver.metric("receiver_deadmans_switch_firing") == 0
    [record] = alerts(receiver)["alerts"]
    assert (record["alertname"], record["status"], record["priority"], record["service"]) == (
        ALERTNAME,
        "resolved",
        "critical",
        "monitoring-receiver",
    )
    assert record["timeToResolveSeconds"] == 120.0
    timeline = alerts(receiver, f"/api/v1/alerts/{record['id']}")["timeline"]
    assert [(e["kind"], e["detail"]) for e in timeline if e["kind"] in ("received", "resolved")] == [
        ("received", "firing, priority critical"),
        ("resolved", "Watchdog arrived again"),
    ]


def test_a_second_silence_is_a_second_episode(receiver: Receiver) -> None:
    for _ in range(2):
        receiver.clock.advance(WINDOW)
        receiver.worker.drain()
        receiver.client.post(URL, data=watchdog())
        receiver.worker.drain()
    assert receiver.channels["pagerduty"].actions() == [(ALERTNAME, "trigger"), (ALERTNAME, "resolve")] * 2
    assert len(alerts(receiver)["alerts"]) == 2


def test_a_resolved_watchdog_is_not_a_heartbeat(receiver: Receiver) -> None:
    receiver.client.post(URL, data=watchdog())
    receiver.clock.advance(WINDOW - 10)
    receiver.client.post(URL, data=watchdog(status="resolved"))
    receiver.clock.advance(10)
    receiver.worker.drain()
    assert receiver.channels["pagerduty"].actions() == [(ALERTNAME, "trigger")]


def test_two_app_instances_on_one_database_page_once(tmp_path: Path, receiver: Receiver) -> None:
    other = build_receiver(tmp_path, {"RECEIVER_DEADMANS_SWITCH": "on", "RECEIVER_DEADMANS_WINDOW": "5m"})
    for clock in (receiver.clock, other.clock):
        clock.advance(WINDOW)
    receiver.worker.drain()
    other.worker.drain()
    pages = receiver.channels["sms"].actions() + other.channels["sms"].actions()
    assert pages == [(ALERTNAME, "trigger")]


def test_the_switch_can_be_turned_off(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_DEADMANS_SWITCH": "off"})
    r.clock.advance(10 * WINDOW)
    r.worker.drain()
    assert sent(r) == {}
    assert r.client.post(URL, data=watchdog()).json == {"new": 0, "updated": 0, "jobs": 0}


def test_the_window_is_configured_and_defaults_to_five_minutes() -> None:
    assert ReceiverConfig.from_environ({}).deadmans_window == 300.0
    assert ReceiverConfig.from_environ({"RECEIVER_DEADMANS_WINDOW": "90s"}).deadmans_window == 90.0
    assert ReceiverConfig.from_environ({"RECEIVER_DEADMANS_SWITCH": "false"}).deadmans_switch is False
