"""Bad records between valid ones on one real Kafka partition: the exporter's consume loop counts every
valid event, and every bad record lands in ``<topic>.dlq`` with its reason and origin offset."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, Message, Producer
from prometheus_client import CollectorRegistry

from exporter.consumer import ConsumeLoop
from exporter.dead_letters import KafkaDeadLetters, dead_letter_topic
from exporter.kafka_status import KafkaStatus
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.sources import KafkaSource
from tests.unit.bad_input.strategies import valid_envelopes
from tests.unit.bad_input.test_event_decoder import NASTY, STRUCTURED

WireHeaders = list[tuple[str, str | bytes | None]]
BROKER_LIMIT = 900_000
SAMPLE = int(os.environ.get("BAD_INPUT_KAFKA_SAMPLE", "40"))  # random bad records on top of the table


def random_bad_records(rng: random.Random, count: int) -> list[tuple[bytes, WireHeaders]]:
    """Garbage of three kinds: random bytes, a valid envelope cut short, one with a field of the wrong type."""
    out: list[tuple[bytes, WireHeaders]] = []
    documents = valid_envelopes(count, seed=99)
    for index in range(count):
        kind = index % 3
        if kind == 0:
            out.append((b"\x00" + rng.randbytes(rng.randint(0, 200)), list(STRUCTURED)))
        elif kind == 1:
            raw = json.dumps(documents[index]).encode()
            out.append((raw[: rng.randint(1, len(raw) - 2)], list(STRUCTURED)))
        else:
            document = documents[index]
            document[rng.choice(["id", "time", "specversion", "source"])] = rng.choice([None, 7, [], {"x": 1}, -1.5])
            out.append((json.dumps(document).encode(), list(STRUCTURED)))
    return out


def header(message: Message, name: str) -> bytes:
    value = dict(message.headers() or [])[name]
    assert isinstance(value, bytes)
    return value


def test_every_bad_record_reaches_the_dead_letter_topic_and_every_valid_neighbour_is_counted(
    kafka_brokers: str, kafka_topic: str
) -> None:
    rng = random.Random(20261126)  # noqa: S311 - test data, not secrets
    # Records over the broker's 1 MB limit never reach a consumer (the unit table covers them).
    table = [(v, list(h), reason) for _, v, h, reason in NASTY if v is not None and len(v) < BROKER_LIMIT]
    bad = table + [(value, headers, None) for value, headers in random_bad_records(rng, SAMPLE)]
    valid = valid_envelopes(len(bad) + 1, seed=5)
    producer = Producer({"bootstrap.servers": kafka_brokers, "enable.idempotence": True})
    offsets: dict[int, int] = {}  # produce index -> offset, from the delivery reports
    errors: list[str] = []

    def delivered(index: int) -> Callable[[KafkaError | None, Message], None]:
        def report(err: KafkaError | None, message: Message) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                offsets[index] = int(message.offset() or 0)

        return report

    reasons_by_index: dict[int, str | None] = {}
    produced = 0
    for index, document in enumerate(valid):  # valid, bad, valid, bad, ..., valid on partition 0
        value = json.dumps(document).encode()
        producer.produce(
            kafka_topic, value=value, headers=list(STRUCTURED), partition=0, on_delivery=delivered(produced)
        )
        produced += 1
        if index < len(bad):
            raw, headers, reason = bad[index]
            producer.produce(kafka_topic, value=raw, headers=headers, partition=0, on_delivery=delivered(produced))
            reasons_by_index[produced] = reason
            produced += 1
    assert producer.flush(30) == 0
    assert errors == []
    expected = {offsets[index]: reason for index, reason in reasons_by_index.items()}  # bad offset -> reason

    registry = CollectorRegistry()
    metrics = EventMetrics(registry)
    dead_letters = KafkaDeadLetters({"bootstrap.servers": kafka_brokers}, metrics)
    processor = EventProcessor(
        metrics,
        time.perf_counter,
        business=BusinessMetrics(registry),
        dead_letters=dead_letters,
        wall_clock=time.time,
    )
    source = KafkaSource(
        [kafka_brokers],
        f"bad-input-{uuid.uuid4().hex[:8]}",
        [kafka_topic],
        metrics=metrics,
        status=KafkaStatus(),
        commit_interval=0.5,
        before_commit=dead_letters.flush,
        extra_config={"auto.offset.reset": "earliest", "fetch.message.max.bytes": 4_000_000},
    )
    loop = ConsumeLoop(source, processor.process, 500, poll_timeout=0.2)
    loop.start()
    consumed = 0.0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        consumed = sum(
            s.value
            for m in registry.collect()
            if m.name == "monitoring_events_consumed"
            for s in m.samples
            if s.name.endswith("_total")
        )
        failed = registry.get_sample_value("monitoring_events_dead_lettered_total", {"topic": kafka_topic}) or 0
        if consumed + failed >= produced:
            break
        time.sleep(0.2)
    loop.stop()
    dead_letters.close()
    assert loop.alive is False
    assert consumed == len(valid)

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_brokers,
            "group.id": f"dlq-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "fetch.message.max.bytes": 4_000_000,
        }
    )
    consumer.subscribe([dead_letter_topic(kafka_topic)])
    letters: list[Message] = []
    deadline = time.monotonic() + 30
    while len(letters) < len(expected) and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            letters.append(message)
    consumer.close()
    reasons = {int(header(m, "dlq-origin-offset")): header(m, "dlq-reason") for m in letters}
    assert sorted(reasons) == sorted(expected)  # every bad record, once, and no valid one
    for at, reason in expected.items():
        assert reason is None or reasons[at] == reason.encode(), (at, reasons[at], reason)
    counted = sum(
        s.value
        for m in registry.collect()
        if m.name == "monitoring_events_failed"
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert counted == len(expected)
