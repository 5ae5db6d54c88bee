"""Whether the exporter can reach Kafka: ``monitoring_kafka_up`` and the readiness probe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import KafkaError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_DOWN_CODES = frozenset({KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE})


DOWN_GRACE = 5.0  # seconds: a failure within this long of another client's success is not an outage


class KafkaStatus(Collector):
    """Up after any successful broker round trip. Down after a failure, unless some client had a
    successful round trip in the last ``grace`` seconds: under a heavy load an admin request can
    time out while the consumer keeps receiving, and that is not an outage (readiness must not
    flap). In a real outage nothing succeeds, so the next failure marks it down."""

    def __init__(
        self, initially_up: bool = False, clock: Callable[[], float] = time.monotonic, grace: float = DOWN_GRACE
    ) -> None:
        self._up = initially_up
        self._clock, self._grace = clock, grace
        self._succeeded_at: float | None = None
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self._up

    def mark(self, up: bool) -> None:
        with self._lock:
            now = self._clock()
            if up:
                self._up, self._succeeded_at = True, now
            elif self._succeeded_at is None or now - self._succeeded_at >= self._grace:
                self._up = False

    def on_error(self, error: KafkaError) -> None:
        """An ``error_cb`` for confluent-kafka clients."""
        if error.code() in _DOWN_CODES:
            self.mark(False)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "monitoring_kafka_up", "1 when the exporter's last Kafka round trip succeeded, else 0.", value=int(self._up)
        )
