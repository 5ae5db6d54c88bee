"""Trace context over the real broker: events in, the exporter's processing spans, domain events out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Consumer, Message, Producer
from prometheus_client import CollectorRegistry

from exporter.collection_cycle import CollectionCycle
from exporter.domain_events import DomainEvents
from exporter.kafka_status import KafkaStatus
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.sources import KafkaSource
from monitoring.cloudevents import decode, encode_binary, encode_structured
from monitoring.event_publisher import EventPublisher
from monitoring.event_spool import EventSpool
from monitoring.eventstore.sqlite import SqliteEventStore
from monitoring.tracing import format_traceparent, parse_traceparent
from simulator.platform import PlatformModel
from tests.spans import MemoryTracing

pytestmark = pytest.mark.integration

STRUCTURED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
BINARY_PARENT = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"


def test_the_exporters_processing_span_continues_the_traceparent_of_each_kafka_event(
    kafka_brokers: str, kafka_topic: str, memory_tracing: MemoryTracing
) -> None:
    first, second, untraced = list(PlatformModel(seed=11).events(3, datetime.now(UTC)))[:3]
    producer = Producer({"bootstrap.servers": kafka_brokers})
    value, headers = encode_structured(msgspec.structs.replace(first, traceparent=STRUCTURED_PARENT))
    producer.produce(kafka_topic, value=value, headers=list[tuple[str, str | bytes | None]](headers))
    # binary mode, with the trace context as OpenTelemetry's Kafka propagation writes it: a plain header
    value, headers = encode_binary(msgspec.structs.replace(second, traceparent=None))
    producer.produce(kafka_topic, value=value, headers=[*headers, ("traceparent", BINARY_PARENT.encode())])
    value, headers = encode_structured(msgspec.structs.replace(untraced, traceparent=None))
    producer.produce(kafka_topic, value=value, headers=list[tuple[str, str | bytes | None]](headers))
    assert producer.flush(10) == 0

    registry = CollectorRegistry()
    metrics = EventMetrics(registry)
    processor = EventProcessor(
        metrics,
        time.perf_counter,
        business=BusinessMetrics(registry),
        wall_clock=time.time,
        tracer=memory_tracing.tracing.tracer("exporter"),
    )
    status = KafkaStatus()
    source = KafkaSource([kafka_brokers], f"test-{uuid.uuid4().hex}", [kafka_topic], metrics=metrics, status=status)
    processed = 0
    deadline = time.monotonic() + 30
    try:
        while processed < 3 and time.monotonic() < deadline:
            for record in source.poll(100, 0.5):
                processor.process(record)
                processed += 1
    finally:
        source.close()
    assert processed == 3

    spans = {
        (span.attributes or {})["cloudevents.event_id"]: span for span in memory_tracing.named(f"process {kafka_topic}")
    }
    assert set(spans) == {first.id, second.id}
    for event_id, parent in ((first.id, STRUCTURED_PARENT), (second.id, BINARY_PARENT)):
        expected = parse_traceparent(parent)
        span = spans[event_id]
        assert expected is not None
        assert span.context is not None
        assert span.parent is not None
        assert span.context.trace_id == expected.trace_id
        assert span.parent.span_id == expected.span_id


def _read_one(brokers: str, topic: str) -> Message:
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message
    finally:
        consumer.close()
    raise AssertionError(f"nothing on {topic} after 30s")


def test_a_published_metric_collected_event_carries_the_collection_cycle_spans_traceparent(
    kafka_brokers: str, kafka_topic: str, memory_tracing: MemoryTracing, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    EventMetrics(registry)
    publisher = EventPublisher(kafka_brokers, topic=kafka_topic)
    store = SqliteEventStore(tmp_path / "events.sqlite3", 3600.0)
    domain = DomainEvents(EventSpool(tmp_path / "spool.sqlite3", 100), publisher, store, registry)
    cycle = CollectionCycle(
        registry,
        60.0,
        emit=lambda record: domain.metric_collected("exporter-1", record),
        snapshots=None,
        tracer=memory_tracing.tracing.tracer("exporter.collection"),
    )
    cycle.run_once()
    (span,) = memory_tracing.named("collection cycle")
    assert span.context is not None

    domain.start()
    try:
        message = _read_one(kafka_brokers, kafka_topic)
    finally:
        domain.stop(10)

    headers = message.headers()
    assert isinstance(headers, list)
    event = decode(message.value(), headers)
    assert event.type == "MetricCollected"
    expected = format_traceparent(span.context)
    assert expected.startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")
    assert event.traceparent == expected
    assert ("traceparent", expected.encode()) in headers
