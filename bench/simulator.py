"""Simulator throughput: event generation in memory, and Kafka load against raw produce, in interleaved rounds."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.report import Result
from bench.rounds import Samples, interleave
from monitoring.cloudevents import encode_binary, encode_structured
from simulator.generator import EventGenerator, OutRecord, topics_for
from simulator.kafka_load import run_kafka_load
from simulator.kafka_sink import KafkaRecordSink
from simulator.platform import PlatformModel
from simulator.profile import NO_FAULTS, Profile
from simulator.report import GroundTruth
from tests.services import kafka_brokers

KAFKA_RECORDS = 20_000


def _generator_rate(steps: int = 20_000) -> float:
    generator = EventGenerator(Profile(), 1, GroundTruth(), topics_for())
    started = time.perf_counter()
    records = 0
    for i in range(steps):
        records += len(generator.step(1_800_000_000.0 + i * 0.01, NO_FAULTS))
        records += len(generator.due(1_800_000_000.0 + i * 0.01))
    return records / (time.perf_counter() - started)


def _model_rate(count: int = 20_000) -> float:
    started = time.perf_counter()
    records = 0
    for event in PlatformModel(seed=1).events(count, datetime(2026, 1, 1, tzinfo=UTC)):
        encode_structured(event)
        records += 1
    return records / (time.perf_counter() - started)


def _raw_produce_rate(brokers: str, topic: str, records: list[OutRecord]) -> float:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5})
    started = time.perf_counter()
    for record in records:
        while True:
            try:
                producer.produce(record.topic, key=record.key, value=record.value, headers=dict(record.headers))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    return len(records) / (time.perf_counter() - started)


def run() -> list[Result]:
    brokers = kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    topics = [f"bench.{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for future in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1) for t in topics]).values():
        future.result(30)
    samples = Samples()
    try:
        model = PlatformModel(seed=2).events(KAFKA_RECORDS, datetime(2026, 1, 1, tzinfo=UTC))
        encode = (encode_structured, encode_binary)
        records = [OutRecord(topics[0], b"k", *encode[i % 2](e)) for i, e in enumerate(model)][:KAFKA_RECORDS]

        def load() -> None:
            sink = KafkaRecordSink(brokers, GroundTruth())
            result = run_kafka_load(sink, topics[1], rate=None, count=KAFKA_RECORDS, duration=60)
            samples.add("load", result.rate)

        interleave(
            [
                lambda: samples.add("generator", _generator_rate()),
                lambda: samples.add("model", _model_rate()),
                lambda: samples.add("raw", _raw_produce_rate(brokers, topics[0], records)),
                load,
            ]
        )
    finally:
        for future in admin.delete_topics(topics).values():
            future.result(30)
    return [
        Result(
            "simulator generate (records, all types)",
            samples["generator"],
            "records/s",
            "PlatformModel + encode",
            samples["model"],
        ),
        # The load tool generates and encodes each event as it goes and waits for delivery reports;
        # the baseline only hands pre-encoded records (same sizes and headers) to a producer.
        Result("load kafka --rate max", samples["load"], "records/s", "raw Producer, pre-encoded", samples["raw"]),
    ]
