"""The simulator's platform consumer group commits normally, slowly (lag) or not at all (stall)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Producer, TopicPartition

from simulator.platform_consumer import PlatformConsumer
from simulator.profile import ConsumerMode, Faults


def committed_total(brokers: str, group: str, topic: str) -> int:
    probe = Consumer({"bootstrap.servers": brokers, "group.id": group})
    try:
        offsets = probe.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    finally:
        probe.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def produce(brokers: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": brokers})
    for i in range(count):
        producer.produce(topic, key=str(i).encode(), value=b"{}")
    assert producer.flush(30) == 0


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_consumer_group_commits_everything_normally_nothing_when_stalled_and_little_when_lagging(
    kafka_brokers: str, kafka_topic: str
) -> None:
    faults = [Faults()]
    group = f"platform-{uuid.uuid4().hex[:8]}"
    consumer = PlatformConsumer(kafka_brokers, group, [kafka_topic], lambda: faults[0])
    consumer.start()
    try:
        produce(kafka_brokers, kafka_topic, 60)
        assert wait_for(lambda: committed_total(kafka_brokers, group, kafka_topic) == 60)

        faults[0] = Faults(consumer=ConsumerMode.STALL)
        assert wait_for(lambda: consumer.mode is ConsumerMode.STALL)
        produce(kafka_brokers, kafka_topic, 40)
        assert wait_for(lambda: consumer.processed == 100)
        assert committed_total(kafka_brokers, group, kafka_topic) == 60

        faults[0] = Faults(consumer=ConsumerMode.NORMAL)
        assert wait_for(lambda: committed_total(kafka_brokers, group, kafka_topic) == 100)
        produce(kafka_brokers, kafka_topic, 1)
        assert wait_for(lambda: committed_total(kafka_brokers, group, kafka_topic) == 101)

        faults[0] = Faults(consumer=ConsumerMode.LAG, consumer_lag_rate=10)
        assert wait_for(lambda: consumer.mode is ConsumerMode.LAG)
        produce(kafka_brokers, kafka_topic, 200)
        assert wait_for(lambda: committed_total(kafka_brokers, group, kafka_topic) >= 104)
        lagging = committed_total(kafka_brokers, group, kafka_topic)
        assert 104 <= lagging < 301 - 100  # ~10 records/s: far behind the 200 just produced
    finally:
        consumer.stop()
