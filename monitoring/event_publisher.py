"""Publishes the monitoring stack's domain events to Kafka with the idempotent producer.

Events are keyed by aggregate (``aggregateid``, else ``source``), so one aggregate's events
stay in order on one partition. The publisher never produces an event that is still in
flight: while Kafka is down, librdkafka keeps (and retries) what it was given, and the relay
asks again only for events whose delivery has definitely failed. That is what keeps an
outage from turning into duplicates on the topic.

An event's ``traceparent`` also goes out as a ``traceparent`` header, so consumers continue
the trace whichever way they read it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from monitoring.cloudevents import TRACEPARENT_HEADER, CloudEvent, encode_structured

TOPIC = "monitoring.events"


class EventPublisher:
    def __init__(self, brokers: str, topic: str = TOPIC, extra_config: dict[str, Any] | None = None) -> None:
        self._topic = topic
        self._producer = Producer(
            {
                "bootstrap.servers": brokers,
                "enable.idempotence": True,  # implies acks=all and ordered, de-duplicated retries
                "linger.ms": 20,
                # Keep retrying a message for up to 10 minutes before reporting it failed.
                "message.timeout.ms": 600_000,
                **(extra_config or {}),
            }
        )
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        self._delivered: list[str] = []
        self._failed: list[tuple[str, str]] = []

    def submit(self, events: Iterable[CloudEvent]) -> int:
        """Hand events to the producer unless already in flight; returns how many were new."""
        submitted = 0
        for event in events:
            with self._lock:
                if event.id in self._in_flight:
                    continue
                self._in_flight.add(event.id)
            value, encoded_headers = encode_structured(event)
            headers: list[tuple[str, str | bytes | None]] = list(encoded_headers)
            if event.traceparent is not None:  # for consumers that read trace context from headers
                headers.append((TRACEPARENT_HEADER, event.traceparent.encode()))
            key = (event.aggregateid or event.source).encode()
            try:
                self._producer.produce(
                    self._topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery(event.id)
                )
            except BufferError:  # the local queue is full: the relay offers it again later
                with self._lock:
                    self._in_flight.discard(event.id)
                break
            submitted += 1
        return submitted

    def _on_delivery(self, event_id: str) -> Any:
        def report(error: KafkaError | None, _message: Message) -> None:
            with self._lock:
                self._in_flight.discard(event_id)
                if error is None:
                    self._delivered.append(event_id)
                else:
                    self._failed.append((event_id, str(error)))

        return report

    def poll(self, timeout: float) -> None:
        """Serve delivery reports for up to ``timeout`` seconds."""
        self._producer.poll(timeout)

    def take_delivered(self) -> list[str]:
        with self._lock:
            delivered, self._delivered = self._delivered, []
        return delivered

    def take_failed(self) -> list[tuple[str, str]]:
        with self._lock:
            failed, self._failed = self._failed, []
        return failed

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is queued; returns how many messages are still undelivered."""
        return int(self._producer.flush(timeout))
