"""Domain events reach Kafka and the event store exactly once, across Kafka and MongoDB outages.

Uses a private Kafka broker and a private FerretDB (tests/private_services.py), because the
test stops and restarts them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest
from confluent_kafka import Consumer

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, new_event
from monitoring.event_publisher import EventPublisher
from monitoring.event_relay import EventRelay
from monitoring.event_spool import EventSpool, Stage
from monitoring.eventstore import EventQuery
from monitoring.eventstore.mongo import MongoEventStore
from tests.private_services import PrivateFerretDB, PrivateKafka

TOPIC = "monitoring.events"


def health_event(n: int) -> CloudEvent:
    at = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    return new_event(
        id=f"health-{n:04d}", type="ServiceHealthChanged", source="monitoring-exporter", time=at,
        data=c.ServiceHealthChanged(service=f"svc-{n % 3}", previous="up", current="down", reason="r", checked_at=at),
        aggregateid=f"svc-{n % 3}",
    )  # fmt: skip


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s")


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    (tmp_path / "kafka").mkdir()
    broker = PrivateKafka(tmp_path / "kafka")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def ferretdb(tmp_path: Path) -> Iterator[PrivateFerretDB]:
    (tmp_path / "mongo").mkdir()
    server = PrivateFerretDB(tmp_path / "mongo")
    server.start()
    yield server
    server.stop()


def read_topic(brokers: str) -> list[str]:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "verify", "auto.offset.reset": "earliest"})
    consumer.subscribe([TOPIC])
    keys: list[str] = []
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < 5:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            idle_since = time.monotonic()
            headers = dict(message.headers() or [])
            assert headers.get("content-type") == b"application/cloudevents+json"
            value = message.value()
            assert value is not None
            keys.append(value.decode())
    finally:
        consumer.close()
    return keys


def test_events_emitted_through_kafka_and_mongodb_outages_arrive_once_in_each(
    tmp_path: Path, kafka: PrivateKafka, ferretdb: PrivateFerretDB
) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=10_000)
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        ferretdb.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    store = MongoEventStore(client["monitoring"], retention_seconds=30 * 86400.0)
    store.prepare()
    relay = EventRelay(spool, EventPublisher(kafka.brokers, extra_config={"log_level": 0}), store, idle_wait=0.05)
    relay.start()
    try:
        spool.add([health_event(n) for n in range(0, 30)])
        wait_until(lambda: spool.depth() == {Stage.PUBLISHED: 0, Stage.STORED: 0}, 30, "first batch relayed")

        kafka.stop()
        spool.add([health_event(n) for n in range(30, 60)])
        wait_until(lambda: spool.depth()[Stage.STORED] == 0, 15, "storing while Kafka is down")
        assert spool.depth()[Stage.PUBLISHED] == 30

        ferretdb.stop()
        spool.add([health_event(n) for n in range(60, 90)])
        time.sleep(2)
        assert spool.depth() == {Stage.PUBLISHED: 60, Stage.STORED: 30}

        kafka.start()
        ferretdb.start()
        wait_until(lambda: spool.depth() == {Stage.PUBLISHED: 0, Stage.STORED: 0}, 60, "everything relayed")
    finally:
        relay.stop()

    published = read_topic(kafka.brokers)
    ids = sorted(json.loads(value)["id"] for value in published)
    assert ids == [f"health-{n:04d}" for n in range(90)]  # every event once, none twice
    stored = store.find(EventQuery(limit=1000)).events
    assert [event.id for event in stored] == [f"health-{n:04d}" for n in range(90)]
    assert relay.counts.store_failures > 0  # the outage was real
    client.close()
