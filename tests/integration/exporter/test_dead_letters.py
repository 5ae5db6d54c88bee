"""Dead letters that cannot be delivered are retried with backoff, counted, and hold back the commit."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, Message
from prometheus_client import CollectorRegistry

from exporter.dead_letters import DeadLetterUnavailable, KafkaDeadLetters, dead_letter_topic
from exporter.metrics import EventMetrics
from exporter.records import Record
from tests.services import free_port


def test_undeliverable_dead_letters_are_retried_counted_and_reported() -> None:
    registry = CollectorRegistry()
    sleeps: list[float] = []
    dead = KafkaDeadLetters(
        {"bootstrap.servers": f"127.0.0.1:{free_port()}", "message.timeout.ms": 200},
        EventMetrics(registry),
        attempts=3,
        backoff=0.01,
        sleep=sleeps.append,
    )
    dead.send(Record("orders", 2, 41, b"{not json", [("content-type", b"application/cloudevents+json")]), "x", "y")
    with pytest.raises(DeadLetterUnavailable):
        dead.flush(timeout=5.0)  # returns once each round's message has timed out (200 ms), not after 5 s
    dead.close()
    assert registry.get_sample_value("monitoring_event_retries_total", {"topic": "orders"}) == 3
    assert sleeps == [0.01, 0.02, 0.04]  # exponential backoff between rounds


def test_dead_letters_reach_the_broker_when_it_is_there(kafka_brokers: str, kafka_topic: str) -> None:
    registry = CollectorRegistry()
    dead = KafkaDeadLetters({"bootstrap.servers": kafka_brokers}, EventMetrics(registry))
    dead.send(Record(kafka_topic, 0, 7, b"x", []), "invalid_json", "detail")
    dead.flush(timeout=10)
    dead.close()
    assert registry.get_sample_value("monitoring_event_retries_total", {"topic": kafka_topic}) is None


def test_a_full_local_queue_makes_dead_lettering_wait_for_the_broker_and_loses_nothing(
    kafka_brokers: str, kafka_topic: str
) -> None:
    registry = CollectorRegistry()
    # a queue of 256 KiB holds two of these 100 KiB records: the rest wait for deliveries (BufferError)
    dead = KafkaDeadLetters(
        {"bootstrap.servers": kafka_brokers, "queue.buffering.max.kbytes": 256, "linger.ms": 50},
        EventMetrics(registry),
        attempts=20,
    )
    for offset in range(30):
        dead.send(Record(kafka_topic, 0, offset, os.urandom(100 * 1024), []), "invalid_json", "bad")
    dead.flush(timeout=10)  # raises DeadLetterUnavailable if any of the 30 was not delivered
    dead.close()
    assert (registry.get_sample_value("monitoring_event_retries_total", {"topic": kafka_topic}) or 0) > 0

    consumer = Consumer(
        {"bootstrap.servers": kafka_brokers, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([dead_letter_topic(kafka_topic)])
    offsets: set[bytes] = set()
    deadline = time.monotonic() + 20
    while len(offsets) < 30 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            origin = dict(message.headers() or [])["dlq-origin-offset"]
            assert isinstance(origin, bytes)
            offsets.add(origin)
    consumer.close()
    assert offsets == {str(i).encode() for i in range(30)}


def test_an_oversized_record_is_dead_lettered_cut_to_size_and_marked(kafka_brokers: str, kafka_topic: str) -> None:
    registry = CollectorRegistry()
    dead = KafkaDeadLetters({"bootstrap.servers": kafka_brokers}, EventMetrics(registry), max_value_bytes=4096)
    huge = b'{"padding": "' + os.urandom(2 * 1024 * 1024).hex().encode() + b'"}'  # incompressible, 4 MiB
    dead.send(Record(kafka_topic, 0, 9, huge, []), "oversized", "record of 4 MiB")
    dead.send(Record(kafka_topic, 0, 10, b"{}", []), "invalid_schema", "next to it")
    dead.flush(timeout=10)  # raises DeadLetterUnavailable if the broker refused either one
    dead.close()

    consumer = Consumer(
        {"bootstrap.servers": kafka_brokers, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([dead_letter_topic(kafka_topic)])
    received: list[Message] = []
    deadline = time.monotonic() + 20
    while len(received) < 2 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            received.append(message)
    consumer.close()
    assert len(received) == 2
    # without a key the two dead letters may land on different partitions: tell them by origin offset
    by_origin = {dict(m.headers() or [])["dlq-origin-offset"]: m for m in received}
    first, second = by_origin[b"9"], by_origin[b"10"]
    first_headers = dict(first.headers() or [])
    assert first.value() == huge[:4096]
    assert first_headers["dlq-truncated-from"] == str(len(huge)).encode()
    assert first_headers["dlq-reason"] == b"oversized"
    assert second.value() == b"{}"
    assert "dlq-truncated-from" not in dict(second.headers() or [])
