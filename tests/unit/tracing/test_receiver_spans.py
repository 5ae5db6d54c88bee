"""The receiver: a server span per webhook, child spans for intake and the history write, and a
delivery span per channel attempt whose parent is the context stored with the outbox job."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

from receiver.config.settings import ReceiverConfig
from receiver.delivery.notification import DeliveryFailed
from receiver.delivery.outbox import DeliveryWorker
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, credentialed_client
from tests.spans import PARENT_SPAN_ID, SAMPLED_PARENT, TRACE_ID, MemoryTracing
from tests.unit.receiver.fakes import FakeChannel, FakeClock, alert, fake_channels, webhook

WEBHOOK = "POST /api/v1/alerts/alertmanager"


def receiver(
    tmp_path: Path, tracing: MemoryTracing, channels: dict[str, FakeChannel], clock: FakeClock | None = None
) -> tuple[FlaskClient, DeliveryWorker]:
    config = ReceiverConfig.from_environ(
        {"RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3"), "RECEIVER_DEADMANS_SWITCH": "off", **WEBHOOK_ENV}
    )
    app = create_app(
        config, channels=channels, clock=clock or FakeClock(), registry=CollectorRegistry(), tracing=tracing.tracing
    )
    worker: DeliveryWorker = app.extensions["delivery"]
    return credentialed_client(app), worker


def test_a_webhook_with_a_traceparent_continues_that_trace_through_intake_history_and_every_delivery(
    tmp_path: Path, memory_tracing: MemoryTracing
) -> None:
    channels = fake_channels("pagerduty", "slack", "sms")
    client, worker = receiver(tmp_path, memory_tracing, channels)

    response = client.post(
        "/api/v1/alerts/alertmanager", json=webhook(alert(priority="critical")), headers={"traceparent": SAMPLED_PARENT}
    )
    assert response.status_code == 200
    assert worker.drain() == 3

    (server,) = memory_tracing.named(WEBHOOK)
    (intake,) = memory_tracing.named("intake")
    (write,) = memory_tracing.named("history write")
    deliveries = [s for s in memory_tracing.spans() if s.name.startswith("deliver ")]
    assert server.kind is SpanKind.SERVER
    assert server.parent is not None
    assert server.parent.span_id == PARENT_SPAN_ID
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    for span in (server, intake, write, *deliveries):
        assert span.context is not None
        assert span.context.trace_id == TRACE_ID
    assert server.context is not None
    assert write.context is not None
    assert intake.parent is not None
    assert intake.parent.span_id == server.context.span_id
    assert write.parent is not None
    assert write.parent.span_id == server.context.span_id
    assert sorted(s.name for s in deliveries) == ["deliver pagerduty", "deliver slack", "deliver sms"]
    for span in deliveries:
        assert span.parent is not None
        assert span.parent.span_id == write.context.span_id
        assert span.attributes is not None
        assert span.attributes["notification.priority"] == "critical"
        assert span.attributes["notification.attempt"] == 1
        assert span.attributes["notification.outcome"] == "delivered"


def test_a_failed_attempt_and_its_retry_are_two_delivery_spans_of_the_same_trace(
    tmp_path: Path, memory_tracing: MemoryTracing
) -> None:
    channels = fake_channels("slack", "pagerduty")
    channels["slack"].failures.append(DeliveryFailed("slack: 503", retryable=True, retry_after=0.0))
    clock = FakeClock()
    client, worker = receiver(tmp_path, memory_tracing, channels, clock)
    client.post(
        "/api/v1/alerts/alertmanager", json=webhook(alert(priority="high")), headers={"traceparent": SAMPLED_PARENT}
    )
    worker.drain()
    clock.advance(60)  # past the backoff, well before the acknowledgement deadline
    worker.drain()

    slack = memory_tracing.named("deliver slack")
    assert [s.attributes["notification.attempt"] for s in slack if s.attributes] == [1, 2]
    assert [s.attributes["notification.outcome"] for s in slack if s.attributes] == ["retry", "delivered"]
    assert slack[0].status.status_code is StatusCode.ERROR
    assert {s.context.trace_id for s in slack if s.context} == {TRACE_ID}


def test_a_webhook_without_traceparent_starts_a_new_trace_and_probes_are_not_traced(
    tmp_path: Path, memory_tracing: MemoryTracing
) -> None:
    client, _worker = receiver(tmp_path, memory_tracing, fake_channels("slack", "pagerduty"))
    client.post("/api/v1/alerts/alertmanager", json=webhook(alert(priority="high")))
    for path in ("/metrics", "/healthz", "/readyz"):
        assert client.get(path).status_code == 200

    (server,) = [s for s in memory_tracing.spans() if s.kind is SpanKind.SERVER]
    assert server.name == WEBHOOK
    assert server.parent is None
    assert server.context is not None
    assert server.context.trace_id != TRACE_ID


def test_an_escalation_is_a_trace_of_its_own_that_its_deliveries_continue(
    tmp_path: Path, memory_tracing: MemoryTracing
) -> None:
    clock = FakeClock()
    client, worker = receiver(tmp_path, memory_tracing, fake_channels("pagerduty", "slack", "sms"), clock)
    client.post(
        "/api/v1/alerts/alertmanager", json=webhook(alert(priority="high")), headers={"traceparent": SAMPLED_PARENT}
    )
    worker.drain()
    clock.advance(3601)  # past the acknowledgement deadline of a high alert
    worker.drain()

    (escalate,) = memory_tracing.named("escalate")
    assert escalate.context is not None
    assert escalate.context.trace_id != TRACE_ID
    assert escalate.attributes is not None
    assert escalate.attributes["escalation"] == 1
    escalations = [s for s in memory_tracing.spans() if (s.attributes or {}).get("notification.action") == "escalate"]
    assert sorted(s.name for s in escalations) == ["deliver slack", "deliver sms"]
    for span in escalations:
        assert span.parent is not None
        assert span.parent.span_id == escalate.context.span_id
