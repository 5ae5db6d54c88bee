"""Records already on Kafka for the exporter's benchmarks: the simulator's platform, as producers send it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from monitoring.cloudevents import encode_binary, encode_structured
from simulator.platform import PlatformModel


def records(count: int) -> Iterator[tuple[bytes, list[tuple[str, str | bytes | None]], bytes]]:
    """``count`` records of the simulator's platform, alternating structured and binary mode.

    The model's clock runs about an hour per million records; starting 40 minutes ago keeps every
    event within the exporter's accepted window (an hour ahead) while the rounds consume them.
    """
    events = PlatformModel(seed=99).events(count, datetime.now(UTC) - timedelta(minutes=40))
    for i, event in enumerate(itertools.islice(events, count)):
        value, headers = (encode_structured if i % 2 else encode_binary)(event)
        yield value, list(headers), (event.aggregateid or "").encode()


def fill(brokers: str, topic: str, count: int) -> None:
    """Produce ``records(count)`` to ``topic``, keyed by aggregate, in large uncompressed batches."""
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "batch.size": 1_000_000})
    for value, headers, key in records(count):
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def delete_topics(brokers: str, names: list[str]) -> None:
    """Delete those of ``names`` that exist, and wait for it (a dead-letter topic may never have been created)."""
    admin = AdminClient({"bootstrap.servers": brokers})
    existing = [name for name in names if name in admin.list_topics(timeout=10).topics]
    for future in admin.delete_topics(existing).values() if existing else ():
        future.result(30)
