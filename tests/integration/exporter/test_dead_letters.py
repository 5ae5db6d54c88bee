"""Dead letters that cannot be delivered are retried with backoff, counted, and hold back the commit."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from exporter.dead_letters import DeadLetterUnavailable, KafkaDeadLetters
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
        dead.flush(timeout=1.0)
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
