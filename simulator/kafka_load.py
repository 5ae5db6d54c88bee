"""Kafka load: platform events at a target rate (or as fast as possible), bounded by count and time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from monitoring.cloudevents import encode_binary, encode_structured
from simulator.generator import OutRecord
from simulator.platform import PlatformModel
from simulator.runner import RecordSink


@dataclass(frozen=True)
class KafkaLoadResult:
    sent: int
    undelivered: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else math.inf

    def summary(self) -> str:
        return (
            f"sent {self.sent} records in {self.seconds:.2f}s: {self.rate:,.0f} records/s achieved, "
            f"{self.undelivered} undelivered"
        )


def run_kafka_load(
    sink: RecordSink,
    topic: str,
    *,
    rate: float | None,
    count: int,
    duration: float,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> KafkaLoadResult:
    """Send up to ``count`` records within ``duration`` seconds; ``rate=None`` means as fast as possible."""
    if count < 1 or duration <= 0 or (rate is not None and rate <= 0):
        raise ValueError("count, duration and rate must be positive")
    events = PlatformModel(seed=seed).events(count, datetime.now(UTC))
    start = clock()
    sent = 0
    for event in events:
        if sent >= count:
            break
        now = clock()
        if now - start >= duration:
            break
        if rate is not None:
            due = start + sent / rate
            if due > now:
                sleep(due - now)
                if clock() - start >= duration:
                    break
        value, headers = encode_structured(event) if sent % 2 else encode_binary(event)
        sink.send(OutRecord(topic, (event.aggregateid or "").encode(), value, headers))
        sent += 1
    undelivered = sink.flush(30.0)
    return KafkaLoadResult(sent, undelivered, clock() - start)
