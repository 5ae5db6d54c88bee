"""Sends simulator records to Kafka with confluent-kafka; refused deliveries are counted."""

from __future__ import annotations

import structlog
from confluent_kafka import KafkaError, Message, Producer

from simulator.generator import OutRecord
from simulator.loopback import require_loopback_brokers
from simulator.report import GroundTruth

log = structlog.get_logger(__name__)

# Oversized test records (just above the 1 MiB decode limit) must reach the broker: allow big
# messages in the producer and compress, so the batch stays under the broker's default limit.
PRODUCER_DEFAULTS: dict[str, str | int | bool] = {
    "enable.idempotence": True,
    "compression.type": "lz4",
    "message.max.bytes": 4 * 1024 * 1024,
    "linger.ms": 5,
}


class KafkaRecordSink:
    def __init__(self, brokers: str, truth: GroundTruth, **overrides: str | int | bool) -> None:
        require_loopback_brokers(brokers)
        self._truth = truth
        self._producer = Producer({"bootstrap.servers": brokers, **PRODUCER_DEFAULTS, **overrides})

    def send(self, record: OutRecord) -> None:
        headers: list[tuple[str, str | bytes | None]] = list(record.headers)
        while True:
            try:
                self._producer.produce(
                    record.topic,
                    key=record.key,
                    value=record.value,
                    headers=headers,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        return int(self._producer.flush(timeout))

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._truth.delivery_failed()
            log.error("kafka.delivery_failed", topic=message.topic(), error=str(error))
