"""The dead-letter topic: records that cannot be processed go to ``<topic>.dlq`` with their origin.

Headers added to the original ones: ``dlq-reason``, ``dlq-detail``, ``dlq-origin-topic``,
``dlq-origin-partition`` and ``dlq-origin-offset``. A value larger than ``max_value_bytes`` (an
oversized record is itself a reason to dead-letter) is cut to that size and marked with
``dlq-truncated-from`` (its original length), so the dead letter always fits the broker's limit
and never holds back the partition; the full record stays in the source topic for its retention.
Produce failures are transient
(a full local queue, a broker that is away): they are retried with exponential backoff
and each retry is counted in ``monitoring_event_retries_total``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer

from exporter.metrics import EventMetrics
from exporter.records import ConsumedRecord

log = structlog.get_logger(__name__)

DLQ_SUFFIX = ".dlq"
MAX_VALUE_BYTES = 256 * 1024  # well under Kafka's default 1 MB message limit, headers included


class DeadLetterUnavailable(Exception):
    """Dead letters could not be written after every retry; offsets must not be committed."""


DLQ_QUEUE_KIB = 32 * 1024


def dead_letter_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


class KafkaDeadLetters:
    def __init__(
        self,
        producer_config: dict[str, Any],
        metrics: EventMetrics,
        *,
        attempts: int = 5,
        backoff: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self._producer = Producer(
            {
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                # librdkafka queues up to 1 GiB by default: a flood of bad records would grow the process
                # by that much. 32 MiB holds over a hundred full-size dead letters; beyond it produce()
                # raises BufferError and send() waits for the queue to drain (backpressure, nothing lost).
                "queue.buffering.max.kbytes": DLQ_QUEUE_KIB,
                **producer_config,
            }
        )
        self._max_value = max_value_bytes
        self._metrics = metrics
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._failed: list[tuple[ConsumedRecord, str, str]] = []
        self._lock = threading.Lock()

    def send(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        topic = record.topic() or ""
        headers: list[tuple[str, str | bytes | None]] = [
            *((key, value) for key, value in record.headers() or () if not key.startswith("dlq-")),
            ("dlq-reason", reason.encode()),
            ("dlq-detail", detail[:1000].encode()),
            ("dlq-origin-topic", topic.encode()),
            ("dlq-origin-partition", str(record.partition()).encode()),
            ("dlq-origin-offset", str(record.offset()).encode()),
        ]
        value = record.value()
        if value is not None and len(value) > self._max_value:
            headers.append(("dlq-truncated-from", str(len(value)).encode()))
            value = value[: self._max_value]

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                log.warning("dead_letter_failed", topic=topic, offset=record.offset(), error=str(err))
                with self._lock:
                    self._failed.append((record, reason, detail))

        delay = self._backoff
        for attempt in range(self._attempts):
            try:
                self._producer.produce(
                    dead_letter_topic(topic),
                    value=value,
                    key=record.key(),
                    headers=headers,
                    on_delivery=delivered,
                )
                return
            except BufferError:  # the local queue is full: let it drain, then retry
                if attempt == self._attempts - 1:
                    break
                self._metrics.retries.labels(topic).inc()
                self._producer.poll(delay)
                delay *= 2
        with self._lock:
            self._failed.append((record, reason, detail))

    def flush(self, timeout: float = 10.0) -> None:
        """Deliver everything sent so far, retrying failures; raise ``DeadLetterUnavailable`` if some remain."""
        delay = self._backoff
        for _ in range(self._attempts):
            self._producer.flush(timeout)
            with self._lock:
                failed, self._failed = self._failed, []
            if not failed and len(self._producer) == 0:
                return
            for record, reason, detail in failed:
                self._metrics.retries.labels(record.topic() or "").inc()
                self.send(record, reason, detail)
            self._sleep(delay)
            delay *= 2
        raise DeadLetterUnavailable(f"{len(self._producer)} dead letters not delivered after {self._attempts} rounds")

    def close(self) -> None:
        self._producer.flush(10)
