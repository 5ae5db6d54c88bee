"""A platform consumer group run by the simulator, so lag and stalls can be injected.

It plays portfolio-service reading transaction events. Each poll asks ``faults()`` how to
behave: ``normal`` commits after every batch, ``lag`` processes at most
``consumer_lag_rate`` records a second (the committed offset falls behind), ``stall``
keeps polling so it stays in the group but commits nothing; back in ``normal`` it
commits everything it has read at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException

from simulator.loopback import require_loopback_brokers
from simulator.profile import ConsumerMode, Faults

log = structlog.get_logger(__name__)


class PlatformConsumer:
    def __init__(
        self,
        brokers: str,
        group: str,
        topics: Sequence[str],
        faults: Callable[[], Faults],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        require_loopback_brokers(brokers)
        self.group = group
        self.processed = 0
        self.commits = 0
        self._uncommitted = False
        self.mode: ConsumerMode | None = None  # the mode of the cycle in progress
        self._config = {
            "bootstrap.servers": brokers,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        self._topics = list(topics)
        self._faults = faults
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"platform-consumer-{group}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        consumer = Consumer(self._config)
        consumer.subscribe(self._topics)
        try:
            while not self._stop.is_set():
                try:
                    self._cycle(consumer, self._faults())
                except KafkaException:  # the loop's edge: log, count nothing lost, keep going
                    log.exception("platform_consumer.error", group=self.group)
                    self._sleep(0.5)
        finally:
            consumer.close()

    def _cycle(self, consumer: Consumer, faults: Faults) -> None:
        self.mode = faults.consumer
        batch = 1 if faults.consumer is ConsumerMode.LAG else 500
        messages = consumer.consume(batch, 0.2)
        valid = [m for m in messages if m.error() is None]
        for message in messages:
            if message.error() is not None:  # e.g. a topic not created yet: the client retries
                log.warning("platform_consumer.poll_error", group=self.group, error=str(message.error()))
        if valid and faults.consumer is ConsumerMode.LAG:
            self._sleep(1.0 / faults.consumer_lag_rate)
        self.processed += len(valid)
        self._uncommitted = self._uncommitted or bool(valid)
        if self._uncommitted and faults.consumer is not ConsumerMode.STALL:
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError._NO_OFFSET:
                    raise
            else:
                self.commits += 1
            self._uncommitted = False
