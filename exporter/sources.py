"""Where records come from: Kafka (a consumer group) or, when KAFKA_BROKERS is unset, in-process.

A source hands out batches and is told when a batch is done (``done``); only then are its
offsets stored, and stored offsets are committed periodically (``maybe_commit``), when
partitions are revoked and on ``close``: at-least-once delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from exporter.kafka_status import KafkaStatus
from exporter.metrics import EventMetrics
from exporter.records import ConsumedRecord, Record
from monitoring.catalogue import TOPIC_OF_SOURCE
from monitoring.cloudevents import CloudEvent, encode_binary, encode_structured

log = structlog.get_logger(__name__)


class EventSource(Protocol):
    def poll(self, max_records: int, timeout: float) -> Sequence[ConsumedRecord]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        ...

    def done(self, records: Sequence[ConsumedRecord]) -> None:
        """Every record in ``records`` has been processed: its offset may be committed."""
        ...

    def maybe_commit(self) -> None:
        """Commit processed offsets if the commit interval has passed."""
        ...

    def close(self) -> None:
        """Commit processed offsets and leave."""
        ...


class EventModel(Protocol):
    """A model of the platform that makes its events (the simulator's ``PlatformModel``), for running
    without Kafka; the operations layer passes one in."""

    def events(self, count: int, start: datetime) -> Iterator[CloudEvent]: ...


class InProcessSource:
    """Platform events from a model of the platform, paced at ``rate`` events per second.

    Alternates structured and binary mode, so both decoders run, and stamps each record
    with a per-topic offset as Kafka would.
    """

    def __init__(
        self,
        model: EventModel,
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

    def poll(self, max_records: int, timeout: float) -> Sequence[ConsumedRecord]:
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
        return Record(topic, 0, offset, value, headers)

    def done(self, records: Sequence[ConsumedRecord]) -> None:
        return None

    def maybe_commit(self) -> None:
        return None

    def close(self) -> None:
        return None


class KafkaSource:
    """A member of consumer group ``group_id`` on ``topics``.

    Auto-commit and auto offset store are off: ``done`` stores the next offset of each
    partition once its records are processed, and commits happen every
    ``commit_interval`` seconds, on partition revoke and on ``close``. ``before_commit``
    runs first (it flushes dead letters), so a record is never committed before its
    dead letter is written.
    """

    def __init__(
        self,
        brokers: Sequence[str],
        group_id: str,
        topics: Sequence[str],
        *,
        metrics: EventMetrics,
        status: KafkaStatus,
        commit_interval: float = 5.0,
        before_commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        extra_config: dict[str, Any] | None = None,
        commit_attempts: int = 5,
    ) -> None:
        self._metrics = metrics
        self._status = status
        self._commit_interval = commit_interval
        self._before_commit = before_commit
        self._clock = clock
        self._sleep = sleep
        self._commit_attempts = commit_attempts
        self._last_commit = clock()
        self._uncommitted: set[str] = set()
        self._assigned: frozenset[tuple[str, int]] = frozenset()  # (topic, partition), from the rebalance callbacks
        self._records_since_commit = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": ",".join(brokers),
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "error_cb": status.on_error,
                **(extra_config or {}),
            }
        )
        self._consumer.subscribe(list(topics), on_assign=self._on_assign, on_revoke=self._on_revoke)

    def poll(self, max_records: int, timeout: float) -> Sequence[ConsumedRecord]:
        messages = self._consumer.consume(max_records, timeout)
        if not messages:
            return ()
        self._status.mark(True)
        records = [m for m in messages if m.error() is None]
        if len(records) < len(messages):
            for m in messages:
                if m.error() is not None:
                    log.warning("kafka_consume_error", error=str(m.error()), topic=m.topic(), partition=m.partition())
        # A consumer's message always has its headers as a list of pairs; the stubs also allow a dict (producing).
        return cast(list[ConsumedRecord], records)

    def done(self, records: Sequence[ConsumedRecord]) -> None:
        """Store the next offset of every partition in ``records``: the loop processed all it consumed.

        Read from the batch's last record of each partition, not from the consumer's positions:
        ``position()`` waits for the locks of librdkafka's fetching threads while it holds the
        interpreter lock, 0.6 ms per batch under a backlog (docs/metrics.md).
        """
        if not records:
            return
        assigned = self._assigned
        offsets: dict[tuple[str, int], int] = {}
        for record in reversed(records):  # the last of each partition, found from the end
            key = (record.topic() or "", record.partition() or 0)
            if key not in offsets and key in assigned:
                offsets[key] = (record.offset() or 0) + 1
                if len(offsets) == len(assigned):
                    break
        if offsets:
            self._consumer.store_offsets(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()])
            self._uncommitted.update(topic for topic, _ in offsets)
        self._records_since_commit += len(records)

    def maybe_commit(self) -> None:
        if self._clock() - self._last_commit >= self._commit_interval:
            self.commit()

    def commit(self) -> None:
        """Commit stored offsets synchronously, retrying transient failures with backoff."""
        self._last_commit = self._clock()
        if not self._uncommitted:
            return
        self._before_commit()
        delay = 0.1
        for attempt in range(self._commit_attempts):
            try:
                self._consumer.commit(asynchronous=False)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError._NO_OFFSET:
                    break
                if not error.retriable() or attempt == self._commit_attempts - 1:
                    self._metrics.commits.labels("failed").inc()
                    log.warning("offset_commit_failed", error=str(error))
                    return
                for topic in self._uncommitted:
                    self._metrics.retries.labels(topic).inc()
                self._sleep(delay)
                delay *= 2
            else:
                self._metrics.commits.labels("ok").inc()
                # The canonical line: one per commit, not per event.
                log.info("offsets_committed", records=self._records_since_commit, topics=sorted(self._uncommitted))
                self._records_since_commit = 0
                break
        self._uncommitted.clear()

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._assigned = frozenset((tp.topic, tp.partition) for tp in partitions)
        log.info("partitions_assigned", partitions=len(partitions), assigned=_names(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.commit()
        self._assigned = self._assigned - {(tp.topic, tp.partition) for tp in partitions}
        # Logged once the revoke's commit is done: from here on another member may own them.
        log.info("partitions_revoked", partitions=len(partitions), revoked=_names(partitions))

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._consumer.close()


def _names(partitions: Sequence[TopicPartition]) -> list[str]:
    """``topic:partition`` for each, sorted: the ownership a rebalance log line reports."""
    return sorted(f"{tp.topic}:{tp.partition}" for tp in partitions)
