"""Durability and exactly-once delivery across crashes and several receiver processes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.sinks import Reply
from tests.unit.receiver.fakes import alert, webhook


def slack_alertnames(sinks: Sinks, start: int = 0) -> Counter[str]:
    """Alert names in Slack messages received from index ``start`` (the header block's text)."""
    names: Counter[str] = Counter()
    for request in sinks.slack.received()[start:]:
        header = request.json()["blocks"][0]["text"]["text"]
        names[header.split(": ", 1)[1].split(" (", 1)[0]] += 1
    return names


def test_jobs_pending_at_a_kill_9_are_all_delivered_after_restart(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    sinks.slack.status = 503  # Slack is down: every job stays in the outbox
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_RETRY_BASE="500ms", RECEIVER_RETRY_MAX="1s")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        for group in range(4):
            alerts = [alert(f"Disk{group}x{i}", "medium", fingerprint=f"{group:04x}{i:04x}") for i in range(5)]
            assert receiver.post(webhook(*alerts)) == 200
        wait_until(lambda: len(sinks.slack.received()) >= 20, what="first failing attempts")
        receiver.kill_9()
    finally:
        receiver.stop()
    failed_before_restart = len(sinks.slack.received())
    sinks.slack.status = 200
    receiver.start()
    try:
        wait_until(lambda: sum(slack_alertnames(sinks, failed_before_restart).values()) >= 20, 60, "redelivery")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
    finally:
        receiver.stop()
    delivered = slack_alertnames(sinks, failed_before_restart)
    assert len(delivered) == 20
    assert set(delivered.values()) == {1}


def test_a_4xx_is_not_retried_and_the_fallback_channel_gets_the_alert(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    sinks.pagerduty.script = [Reply(400, {"Content-Type": "application/json"}, b'{"status":"invalid event"}')]
    policy = tmp_path / "routing.yml"
    policy.write_text("fallback: webhook\n")
    env = receiver_env(
        postgres_uri,
        sinks,
        tmp_path,
        RECEIVER_ROUTING_FILE=str(policy),
        RECEIVER_WEBHOOK_URL=f"{sinks.webhook.url}/hook",
    )
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        assert receiver.post(webhook(alert("Rejected", "high"))) == 200
        wait_until(lambda: len(sinks.webhook.received()) >= 1, what="the fallback notification")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
        assert receiver.metric("receiver_dead_letters_total") == 1
    finally:
        receiver.stop()
    assert len(sinks.pagerduty.received()) == 1  # no retry after the 400
    [fallback] = sinks.webhook.received()
    assert (fallback.json()["fallback"], fallback.json()["alert"]["alertname"]) == (True, "Rejected")
    assert len(sinks.slack.received()) == 1


def test_two_receiver_processes_on_one_database_send_no_duplicates(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    sinks.slack.delay = 0.01  # a slow endpoint widens any window for double sends
    receivers = []
    for name in ("a", "b"):
        env = receiver_env(postgres_uri, sinks, tmp_path)
        receivers.append(ReceiverProcess(env, tmp_path / f"receiver-{name}.log", int(env["RECEIVER_PORT"])).start())
    try:
        for group in range(20):
            alerts = [alert(f"Slow{group}x{i}", "medium", fingerprint=f"{group:04x}{i:04x}") for i in range(5)]
            payload = webhook(*alerts)
            # Alertmanager in HA sends the same group to every receiver instance.
            assert receivers[0].post(payload) == 200
            assert receivers[1].post(payload) == 200
        wait_until(lambda: len(sinks.slack.received()) >= 100, 60, "all deliveries")
        wait_until(lambda: receivers[0].metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
    finally:
        for receiver in receivers:
            receiver.stop()
    delivered = slack_alertnames(sinks)
    assert len(delivered) == 100
    assert set(delivered.values()) == {1}
