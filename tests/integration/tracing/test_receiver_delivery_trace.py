"""On PostgreSQL: the webhook's trace context is stored with each outbox job and continued by its delivery."""

from __future__ import annotations

import psycopg
import pytest
import requests
from prometheus_client import CollectorRegistry

from monitoring.tracing import format_traceparent
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channels.slack import SlackChannel
from receiver.delivery.composer import default_composer
from receiver.delivery.outbox import DeliveryWorker
from receiver.store.database import PostgresDatabase
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, WEBHOOK_TOKEN
from tests.sinks import RecordingSink
from tests.spans import PARENT_SPAN_ID, SAMPLED_PARENT, TRACE_ID, MemoryTracing
from tests.unit.receiver.fakes import alert, webhook

pytestmark = pytest.mark.integration


def test_the_slack_delivery_span_continues_the_webhooks_trace_from_the_stored_job(
    postgres_uri: str, sink: RecordingSink, memory_tracing: MemoryTracing
) -> None:
    config = ReceiverConfig.from_environ(
        {"POSTGRES_URI": postgres_uri, "RECEIVER_DEADMANS_SWITCH": "off", **WEBHOOK_ENV}
    )
    database = PostgresDatabase(postgres_uri)
    session = requests.Session()
    app = create_app(
        config,
        database,
        channels={"slack": SlackChannel(f"{sink.url}/services/T0/B0/x", session, 5.0, default_composer())},
        registry=CollectorRegistry(),
        tracing=memory_tracing.tracing,
    )
    try:
        response = app.test_client().post(
            "/api/v1/alerts/alertmanager",
            json=webhook(alert(priority="high")),
            headers={"traceparent": SAMPLED_PARENT, "Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        )
        assert response.status_code == 200
        (write,) = memory_tracing.named("history write")
        assert write.context is not None
        with psycopg.connect(postgres_uri) as conn:
            stored = conn.execute("SELECT channel, traceparent FROM outbox").fetchall()
        assert stored == [("slack", format_traceparent(write.context))]

        worker: DeliveryWorker = app.extensions["delivery"]
        assert worker.drain() == 1
    finally:
        session.close()
        database.close()

    assert len(sink.wait_for(1)) == 1
    (delivery,) = memory_tracing.named("deliver slack")
    (server,) = memory_tracing.named("POST /api/v1/alerts/alertmanager")
    assert server.parent is not None
    assert server.parent.span_id == PARENT_SPAN_ID
    assert delivery.context is not None
    assert delivery.context.trace_id == TRACE_ID
    assert delivery.parent is not None
    assert delivery.parent.span_id == write.context.span_id
    assert delivery.attributes is not None
    assert delivery.attributes["notification.channel"] == "slack"
    assert delivery.attributes["notification.priority"] == "high"
    assert delivery.attributes["notification.attempt"] == 1
    assert delivery.attributes["notification.outcome"] == "delivered"
