"""Whether the exporter can reach Kafka: ``monitoring_kafka_up`` and the readiness probe."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from confluent_kafka import KafkaError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_DOWN_CODES = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE})


class KafkaStatus(Collector):
    """Set down by client error callbacks, up by any successful broker round trip."""

    def __init__(self, initially_up: bool = False) -> None:
        self._up = initially_up
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self._up

    def mark(self, up: bool) -> None:
        with self._lock:
            self._up = up

    def on_error(self, error: KafkaError) -> None:
        """An ``error_cb`` for confluent-kafka clients."""
        if error.code() in _DOWN_CODES:
            self.mark(False)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "monitoring_kafka_up", "1 when the exporter's last Kafka round trip succeeded, else 0.", value=int(self._up)
        )
