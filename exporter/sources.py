"""Where records come from. Kafka in production ([M3]); in-process when KAFKA_BROKERS is unset."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Protocol

from exporter.records import Record
from monitoring.catalogue import TOPIC_OF_SOURCE
from monitoring.cloudevents import CloudEvent, encode_binary, encode_structured
from simulator.platform import PlatformModel


class EventSource(Protocol):
    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        ...

    def close(self) -> None: ...


class InProcessSource:
    """Platform events from the simulator's model, paced at ``rate`` events per second.

    Alternates structured and binary mode, so both decoders run, and stamps each record
    with a per-topic offset as Kafka would.
    """

    def __init__(
        self,
        model: PlatformModel,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._events: Iterator[CloudEvent] = model.events(10**12, datetime.now(UTC))
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next_due = clock()
        self._offsets: dict[str, int] = {}
        self._count = 0

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        now = self._clock()
        if now < self._next_due:
            self._sleep(min(timeout, self._next_due - now))
            now = self._clock()
        due = int((now - self._next_due) / self._interval) + 1 if now >= self._next_due else 0
        records = [self._record(next(self._events)) for _ in range(min(due, max_records))]
        self._next_due += len(records) * self._interval
        return records

    def _record(self, event: CloudEvent) -> Record:
        self._count += 1
        encode = encode_structured if self._count % 2 else encode_binary
        value, headers = encode(event)
        topic = TOPIC_OF_SOURCE[event.source]
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        return Record(topic, 0, offset, value, headers, int(event.time.timestamp() * 1000))

    def close(self) -> None:
        return None
