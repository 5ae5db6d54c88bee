"""The outbox worker: retries with backoff, Retry-After, no retry on 4xx, dead letters and fallback."""

from __future__ import annotations

import time
from pathlib import Path

from receiver.delivery.notification import DeliveryFailed, Notification
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"


def timeline_kinds(r: Receiver, channel: str) -> list[str]:
    alert_id = r.client.get("/api/v1/alerts").json["alerts"][0]["id"]  # type: ignore[index]
    detail = r.client.get(f"/api/v1/alerts/{alert_id}").json
    return [e["kind"] for e in detail["timeline"] if e["channel"] == channel]  # type: ignore[index]


def test_a_channel_failing_three_times_delivers_exactly_once_after_recovery(receiver: Receiver) -> None:
    slack = receiver.channels["slack"]
    slack.failures = [DeliveryFailed("slack: HTTP 503", retryable=True) for _ in range(3)]
    receiver.client.post(URL, data=body(alert("DiskFull", "medium")))
    for _ in range(10):  # bounded: each pass moves the clock past the longest possible backoff
        receiver.worker.drain()
        receiver.clock.advance(400)
    assert slack.attempts == 4
    assert slack.actions() == [("DiskFull", "trigger")]
    assert len(receiver.channels["email"].sent) == 1
    assert timeline_kinds(receiver, "slack") == ["delivery_failed"] * 3 + ["notified"]
    assert receiver.metric("receiver_notifications_failed_total", channel="slack") == 3
    assert receiver.metric("receiver_notifications_sent_total", channel="slack") == 1


def test_a_retry_waits_for_the_backoff_before_trying_again(receiver: Receiver) -> None:
    slack = receiver.channels["slack"]
    slack.failures = [DeliveryFailed("slack: HTTP 503", retryable=True)]
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.drain()
    receiver.clock.advance(4.9)  # base 10s, jitter keeps the first delay in [5s, 10s]
    receiver.worker.drain()
    assert slack.attempts == 1
    receiver.clock.advance(5.2)
    receiver.worker.drain()
    assert slack.attempts == 2
    assert len(slack.sent) == 1


def test_a_429_retry_after_is_honoured_even_when_longer_than_the_backoff(receiver: Receiver) -> None:
    pagerduty = receiver.channels["pagerduty"]
    pagerduty.failures = [DeliveryFailed("pagerduty: HTTP 429", retryable=True, retry_after=120)]
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.drain()
    receiver.clock.advance(119)
    receiver.worker.drain()
    assert pagerduty.attempts == 1
    receiver.clock.advance(1)
    receiver.worker.drain()
    assert pagerduty.attempts == 2
    assert len(pagerduty.sent) == 1


def test_a_4xx_is_not_retried_and_the_fallback_channel_gets_the_alert(receiver: Receiver) -> None:
    slack = receiver.channels["slack"]
    slack.failures = [DeliveryFailed("slack: HTTP 404 (rejected, not retried)", retryable=False)]
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.drain()
    receiver.clock.advance(3000)  # longer than any backoff, shorter than the 1h ack deadline
    receiver.worker.drain()
    assert slack.attempts == 1
    assert [n.fallback for n in receiver.channels["email"].sent] == [True]
    assert timeline_kinds(receiver, "slack") == ["dead_letter"]
    assert "receiver_dead_letters_total 1.0" in receiver.client.get("/metrics").text


def test_the_retry_budget_depends_on_priority_and_exhaustion_dead_letters(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    for name in ("slack", "email_digest"):
        r.channels[name].failures = [DeliveryFailed(f"{name}: HTTP 503", retryable=True) for _ in range(20)]
    r.client.post(URL, data=body(alert("Crit", "critical"), alert("Low", "low")))
    crit = next(a for a in r.client.get("/api/v1/alerts").json["alerts"] if a["priority"] == "critical")  # type: ignore[index]
    r.client.post(f"/api/v1/alerts/{crit['id']}/ack", json={"who": "alice", "comment": "on it"})  # no escalation
    for _ in range(30):
        r.worker.drain()
        r.clock.advance(400)
    assert r.channels["slack"].attempts == 10  # critical's budget
    assert r.channels["email_digest"].attempts == 3  # low's budget
    assert sorted((n.alert.alertname, n.fallback) for n in r.channels["email"].sent) == [("Crit", True), ("Low", True)]
    text = r.client.get("/metrics").text
    assert "receiver_dead_letters_total 2.0" in text
    assert "receiver_outbox_pending_jobs 0.0" in text


def test_low_priority_alerts_wait_for_the_digest_and_go_out_in_one_message(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("Cleanup", "low")))
    receiver.clock.advance(1200)
    receiver.client.post(URL, data=body(alert("Rotate", "low", service="asset")))
    receiver.worker.drain()
    assert receiver.channels["email_digest"].digests == []
    receiver.clock.advance(3600 - 1200)  # the hourly digest time (the clock started on the hour)
    receiver.worker.drain()
    [digest] = receiver.channels["email_digest"].digests
    assert sorted(n.alert.alertname for n in digest) == ["Cleanup", "Rotate"]
    assert receiver.metric("receiver_notifications_sent_total", channel="email_digest") == 2


def test_pending_jobs_show_in_outbox_depth_and_oldest_age(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "critical")))
    receiver.clock.advance(42)
    text = receiver.client.get("/metrics").text
    assert "receiver_outbox_pending_jobs 3.0" in text
    assert "receiver_outbox_oldest_pending_age_seconds 42.0" in text
    receiver.worker.drain()
    assert "receiver_outbox_pending_jobs 0.0" in receiver.client.get("/metrics").text


def test_the_delivery_thread_is_started_and_stopped_by_its_owner(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.start()
    try:
        deadline = time.monotonic() + 10
        while not receiver.channels["pagerduty"].sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        receiver.worker.stop()
    assert receiver.worker.running is False
    assert len(receiver.channels["pagerduty"].sent) == 1


class BrokenChannel:
    """A channel with a bug: it raises something other than DeliveryFailed."""

    name = "webhook"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, notification: Notification) -> None:
        self.calls += 1
        raise KeyError("a bug in a channel")


def test_a_channel_bug_is_counted_and_retried_within_the_budget_not_forever(tmp_path: Path) -> None:
    policy = tmp_path / "routing.yml"
    policy.write_text("priorities:\n  low: {channels: [webhook], retry_budget: 3}\n")
    broken = BrokenChannel()
    r = build_receiver(tmp_path, {"RECEIVER_ROUTING_FILE": str(policy)}, overrides={"webhook": broken})
    r.client.post(URL, data=body(alert("Buggy", "low")))
    for _ in range(10):
        r.worker.drain()
        r.clock.advance(400)
    assert broken.calls == 3
    assert r.metric("receiver_worker_errors_total") == 3
    assert [n.fallback for n in r.channels["email"].sent] == [True]
