"""A real Alertmanager posts to the receiver under gunicorn; local sinks speak Slack, Twilio and PagerDuty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import services
from tests.credentials import get_json
from tests.e2e.receiver.conftest import TOKEN, ReceiverProcess, Sinks, receiver_env, wait_until
from tests.processes import ServerProcess, post_alerts, start_alertmanager
from tests.sinks import Reply
from tests.unit.receiver.fakes import alert, webhook


def alertmanager_config(receiver_url: str, token: str, basic: tuple[str, str] | None = None) -> str:
    credentials = (
        f"basic_auth: {{username: {basic[0]}, password: {basic[1]}}}"
        if basic
        else f"authorization: {{type: Bearer, credentials: {token}}}"
    )
    return f"""
route:
  receiver: monitoring-receiver
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: monitoring-receiver
    webhook_configs:
      - url: {receiver_url}/api/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          {credentials}
"""


GRAPH = "http://prometheus.test:9090/graph?g0.expr=rate%28orders_failed_total%5B5m%5D%29+%3E+0&g0.tab=1"


def post_alert(port: int, labels: dict[str, str], starts_at: datetime, ends_at: datetime | None = None) -> None:
    """As Prometheus does: the same startsAt while firing and when resolved (endsAt in the past), and the
    rule's graph link as generatorURL."""
    alert: dict[str, object] = {
        "labels": labels,
        "annotations": {"summary": "orders failing"},
        "startsAt": starts_at.isoformat(),
        "generatorURL": GRAPH,
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    post_alerts(f"http://127.0.0.1:{port}", [alert])


@pytest.fixture
def receiver(postgres_uri: str, sinks: Sinks, tmp_path: Path) -> Iterator[ReceiverProcess]:
    env = receiver_env(postgres_uri, sinks, tmp_path)
    process = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    yield process
    process.stop()


def start_am(
    tmp_path: Path, receiver_url: str, token: str = TOKEN, basic: tuple[str, str] | None = None
) -> tuple[ServerProcess, int]:
    port = services.free_port()
    workdir = tmp_path / f"am-{port}"
    workdir.mkdir()
    binary = services.binary("prometheus-alertmanager", "prometheus-alertmanager")
    return start_alertmanager(binary, alertmanager_config(receiver_url, token, basic), workdir, port), port


def test_a_critical_alert_pages_its_channels_once_retries_through_failures_and_resolves_pagerduty(
    receiver: ReceiverProcess, sinks: Sinks, tmp_path: Path
) -> None:
    sinks.slack.script = [Reply(503), Reply(503), Reply(503)]  # Slack fails three times, then recovers
    sinks.sms.script = [Reply(429, {"Retry-After": "2"})]  # Twilio rate-limits once
    alertmanager, am_port = start_am(tmp_path, receiver.url)
    try:
        labels = {"alertname": "OrdersFailing", "priority": "critical", "service": "transaction"}
        started = datetime.now(UTC) - timedelta(seconds=10)
        post_alert(am_port, labels, started)
        wait_until(lambda: len(sinks.slack.received()) >= 4 and len(sinks.sms.received()) >= 2, what="deliveries")
        # Alertmanager repeats the group every 2s: the receiver sees it again but does not re-page.
        wait_until(lambda: receiver.metric("receiver_webhooks_received_total") >= 3, what="repeated webhooks")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
        assert len(sinks.pagerduty.received()) == 1
        assert len(sinks.slack.received()) == 4  # 3 failures + exactly one delivery
        sms = sinks.sms.received()
        assert len(sms) == 2
        assert sms[1].received_at - sms[0].received_at >= 2.0  # Retry-After, not the 200ms backoff
        trigger = sinks.pagerduty.received()[0].json()
        assert (trigger["event_action"], trigger["payload"]["severity"]) == ("trigger", "critical")

        post_alert(am_port, labels, started, ends_at=datetime.now(UTC) - timedelta(seconds=1))
        wait_until(lambda: len(sinks.pagerduty.received()) >= 2, what="the PagerDuty resolve")
        resolve = sinks.pagerduty.received()[1].json()
        assert resolve["event_action"] == "resolve"
        assert resolve["dedup_key"] == trigger["dedup_key"]
    finally:
        alertmanager.stop()
    [alert] = get_json(f"{receiver.url}/api/v1/alerts?status=resolved", receiver.api_key)["alerts"]
    assert alert["alertname"] == "OrdersFailing"
    assert alert["timeToResolveSeconds"] is not None
    assert alert["generatorURL"] == GRAPH  # as Alertmanager sent it (generatorURL, not generatorUrl)
    assert receiver.metric("receiver_notifications_failed_total") == 4


def test_alertmanager_with_a_wrong_token_is_refused_and_counted(receiver: ReceiverProcess, tmp_path: Path) -> None:
    alertmanager, am_port = start_am(tmp_path, receiver.url, token="wrong-token")
    try:
        post_alert(am_port, {"alertname": "Anything", "priority": "low"}, datetime.now(UTC))
        wait_until(lambda: receiver.metric("receiver_webhooks_rejected_total") >= 1, what="a rejected webhook")
    finally:
        alertmanager.stop()
    assert receiver.metric("receiver_webhooks_received_total") == 0


@pytest.fixture
def basic_auth_receiver(postgres_uri: str, sinks: Sinks, tmp_path: Path) -> Iterator[ReceiverProcess]:
    env = receiver_env(
        postgres_uri, sinks, tmp_path, RECEIVER_WEBHOOK_USERNAME="alertmanager", RECEIVER_WEBHOOK_PASSWORD="am-pass"
    )
    process = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    yield process
    process.stop()


def test_alertmanager_with_basic_auth_is_accepted(basic_auth_receiver: ReceiverProcess, tmp_path: Path) -> None:
    alertmanager, am_port = start_am(tmp_path, basic_auth_receiver.url, basic=("alertmanager", "am-pass"))
    try:
        post_alert(am_port, {"alertname": "Anything", "priority": "medium"}, datetime.now(UTC))
        wait_until(lambda: basic_auth_receiver.metric("receiver_webhooks_received_total") >= 1, what="a stored webhook")
    finally:
        alertmanager.stop()
    assert basic_auth_receiver.metric("receiver_webhooks_rejected_total") == 0


def test_under_gunicorn_bad_requests_get_401_400_and_413(receiver: ReceiverProcess) -> None:
    good = webhook(alert("Fine", "low"))
    assert receiver.post(good, token="wrong") == 401
    broken = webhook(alert("Broken", "low"))
    broken["alerts"][0]["status"] = "exploded"
    assert receiver.post(broken) == 400
    huge = webhook(*[alert(f"A{i}", "low", annotations={"summary": "x" * 10_000}) for i in range(110)])
    assert receiver.post(huge) == 413  # 1.1 MB > RECEIVER_MAX_BODY_BYTES (1 MiB)
    assert receiver.post(good) == 200
    assert receiver.metric("receiver_webhooks_rejected_total") == 3
    assert receiver.metric("receiver_webhooks_received_total") == 1
