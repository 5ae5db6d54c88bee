"""What every event source hands to the processor: one Kafka-shaped record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes | str | None]]
    timestamp_ms: int | None = None
    key: bytes | None = None
