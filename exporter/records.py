"""What every event source hands to the processor: one Kafka-shaped record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from confluent_kafka import Message

Headers = Sequence[tuple[str, bytes | str | None]]


class ConsumedRecord(Protocol):
    """The read-only view the processor, the dead letters and the consistency checks need."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def key(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Record:
    """A record built in memory (the in-process source, tests)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None = None
    key: bytes | None = None


class KafkaRecord:
    """A confluent-kafka ``Message`` seen as a record; fields are read only when used (the hot path reads two)."""

    __slots__ = ("_message",)

    def __init__(self, message: Message) -> None:
        self._message = message

    @property
    def topic(self) -> str:
        return self._message.topic() or ""

    @property
    def partition(self) -> int:
        return self._message.partition() or 0

    @property
    def offset(self) -> int:
        return self._message.offset() or 0

    @property
    def value(self) -> bytes | None:
        return self._message.value()

    @property
    def headers(self) -> Headers:
        return cast(Headers, self._message.headers() or ())

    @property
    def key(self) -> bytes | None:
        return self._message.key()
