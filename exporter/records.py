"""What every event source hands to the processor: one Kafka-shaped record.

The shape is confluent-kafka's ``Message``, read through its methods, so the Kafka source hands
its messages on as they come, with no object per record in between (the hot path reads three of
them: value, headers and topic). ``Record`` is the same shape built in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

Headers = Sequence[tuple[str, bytes | str | None]]


class ConsumedRecord(Protocol):
    """The read-only view the processor, the dead letters and the consistency checks need."""

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def value(self) -> bytes | None: ...

    def headers(self) -> Headers | None: ...

    def key(self) -> bytes | None: ...


class Record:
    """A record built in memory (the in-process source, tests)."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_topic", "_value")

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None,
        headers: Headers,
        key: bytes | None = None,
    ) -> None:
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._value = value
        self._headers = headers
        self._key = key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers:
        return self._headers

    def key(self) -> bytes | None:
        return self._key

    def __repr__(self) -> str:
        return f"Record({self._topic!r}, {self._partition}, {self._offset})"
