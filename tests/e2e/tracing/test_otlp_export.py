"""Real processes export their spans over OTLP/HTTP to a loopback collector that decodes the protobuf."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Producer

from monitoring.cloudevents import encode_structured
from simulator.platform import PlatformModel
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.integration.exporter.processes import ExporterProcess
from tests.otlp_collector import OtlpCollector
from tests.unit.receiver.fakes import alert, webhook

pytestmark = pytest.mark.e2e

TRACE_ID = "5bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-10f067aa0ba902b7-01"
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}  # milliseconds between batch exports


def test_the_exporter_process_sends_the_processing_span_of_a_kafka_event_to_the_otlp_endpoint(
    kafka_brokers: str, kafka_topic: str, collector: OtlpCollector, tmp_path: Path
) -> None:
    event = msgspec.structs.replace(next(iter(PlatformModel(seed=5).events(1, datetime.now(UTC)))), traceparent=PARENT)
    producer = Producer({"bootstrap.servers": kafka_brokers})
    value, headers = encode_structured(event)
    producer.produce(kafka_topic, value=value, headers=list[tuple[str, str | bytes | None]](headers))
    assert producer.flush(10) == 0

    exporter = ExporterProcess(
        "exporter",
        tmp_path,
        {
            "KAFKA_BROKERS": kafka_brokers,
            "EXPORTER_TOPICS": kafka_topic,
            "EXPORTER_GROUP_ID": f"e2e-tracing-{uuid.uuid4().hex}",
            "EXPORTER_CONSISTENCY": "off",
            "COLLECTION_INTERVAL": "1s",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SERVICE_NAME": "exporter-e2e",
            **FAST_EXPORT,
        },
    )
    try:
        span = collector.wait_for(f"process {kafka_topic}", TRACE_ID)
        accept = {"Accept": "application/openmetrics-text"}
        request = urllib.request.Request(exporter.metrics_url, headers=accept)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            exposition = response.read().decode()
    finally:
        exporter.stop()

    assert span.service_name == "exporter-e2e"
    assert span.parent_span_id == "10f067aa0ba902b7"
    assert span.attributes["cloudevents.event_id"] == event.id
    assert any(s.name == "collection cycle" for s in collector.spans())
    assert set(collector.content_types) == {"application/x-protobuf"}
    exemplar = f'# {{span_id="{span.span_id}",trace_id="{TRACE_ID}"}}'
    assert any(
        line.startswith("monitoring_event_processing_seconds_bucket") and exemplar in line
        for line in exposition.splitlines()
    )


def test_the_receiver_process_sends_the_webhook_and_delivery_spans_of_one_trace_to_the_otlp_endpoint(
    postgres_uri: str, sinks: Sinks, collector: OtlpCollector, tmp_path: Path
) -> None:
    env = receiver_env(postgres_uri, sinks, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, **FAST_EXPORT)
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{receiver.url}/api/v1/alerts/alertmanager",
            data=json.dumps(webhook(alert(priority="high"))).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {env['RECEIVER_WEBHOOK_TOKEN']}"}
            | {"traceparent": PARENT},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
        server = collector.wait_for("POST /api/v1/alerts/alertmanager", TRACE_ID)
        slack = collector.wait_for("deliver slack", TRACE_ID)
        pagerduty = collector.wait_for("deliver pagerduty", TRACE_ID)
        wait_until(lambda: len(sinks.slack.received()) == 1, what="the Slack message")
    finally:
        receiver.stop()

    assert server.service_name == slack.service_name == "monitoring-receiver"
    assert server.parent_span_id == "10f067aa0ba902b7"
    assert slack.attributes["notification.outcome"] == "delivered"
    assert pagerduty.attributes["notification.priority"] == "high"
    stored = [
        line
        for line in (json.loads(raw) for raw in receiver.log_path.read_text().splitlines() if raw.startswith("{"))
        if line.get("event") == "webhook stored"
    ]
    assert [line["trace_id"] for line in stored] == [TRACE_ID]
