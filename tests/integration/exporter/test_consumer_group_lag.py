"""Lag and Burrow status of a real consumer group that the test drives through each state."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client import CollectorRegistry

from exporter.consumer_groups import STATUSES, ConsumerGroupMonitor
from exporter.kafka_status import KafkaStatus
from tests.services import free_port


@pytest.fixture
def single_partition_topic(kafka_brokers: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    name = f"test.lag.{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


class Driven:
    """A consumer group whose progress the test controls message by message."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.topic = topic
        self.group = f"test-driven-{uuid.uuid4().hex[:10]}"
        self.producer = Producer({"bootstrap.servers": brokers})
        self.consumer = Consumer(
            {
                "bootstrap.servers": brokers,
                "group.id": self.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        self.consumer.subscribe([topic])

    def produce(self, count: int) -> None:
        for i in range(count):
            self.producer.produce(self.topic, value=f"m{i}".encode())
        assert self.producer.flush(30) == 0

    def consume_and_commit(self, count: int) -> None:
        got = 0
        for _ in range(100):
            if got >= count:
                break
            got += len([m for m in self.consumer.consume(count - got, 0.5) if m.error() is None])
        assert got == count
        self.consumer.commit(asynchronous=False)


def status(registry: CollectorRegistry, group: str) -> str:
    values = {
        s: registry.get_sample_value("kafka_consumergroup_status", {"group": group, "status": s}) or 0.0
        for s in STATUSES
    }
    assert sorted(values.values()) == [0.0, 0.0, 0.0, 0.0, 1.0], values
    return next(s for s, v in values.items() if v == 1.0)


def test_lag_and_status_follow_a_group_through_caught_up_lagging_stalled_stopped_and_rewound(
    kafka_brokers: str, single_partition_topic: str
) -> None:
    driven = Driven(kafka_brokers, single_partition_topic)
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    registry = CollectorRegistry()
    monitor = ConsumerGroupMonitor(admin, KafkaStatus(), groups=[driven.group], window=3)
    registry.register(monitor)
    labels = {"group": driven.group, "topic": single_partition_topic, "partition": "0"}

    driven.produce(20)
    driven.consume_and_commit(20)
    for _ in range(3):
        monitor.sample()
    assert status(registry, driven.group) == "ok"
    assert registry.get_sample_value("kafka_consumergroup_lag", labels) == 0
    assert registry.get_sample_value("kafka_consumergroup_lag_seconds", labels) == 0
    assert registry.get_sample_value("monitoring_consumer_groups_up") == 1

    for _ in range(3):  # ten produced, two consumed per round: lag grows while commits move
        driven.produce(10)
        driven.consume_and_commit(2)
        monitor.sample()
    assert status(registry, driven.group) == "warn"
    assert registry.get_sample_value("kafka_consumergroup_lag", labels) == 24
    assert (registry.get_sample_value("kafka_consumergroup_lag_seconds", labels) or 0) > 0

    for _ in range(3):  # still a member, never commits
        driven.produce(1)
        monitor.sample()
    assert status(registry, driven.group) == "stall"
    assert registry.get_sample_value("kafka_consumergroup_lag", labels) == 27

    driven.consumer.close()
    monitor.sample()
    assert status(registry, driven.group) == "stop"

    rewind = [ConsumerGroupTopicPartitions(driven.group, [TopicPartition(single_partition_topic, 0, 0)])]
    admin.alter_consumer_group_offsets(rewind)[driven.group].result(30)
    monitor.sample()
    assert status(registry, driven.group) == "rewind"
    assert registry.get_sample_value("kafka_consumergroup_lag", labels) == 53  # everything produced


def test_an_unreachable_broker_marks_the_lag_source_and_kafka_down() -> None:
    kafka = KafkaStatus(initially_up=True)
    config: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{free_port()}", "error_cb": kafka.on_error}
    admin = AdminClient(config)
    monitor = ConsumerGroupMonitor(admin, kafka, groups=["any"], timeout=1.0)
    registry = CollectorRegistry()
    registry.register(monitor)
    monitor.sample()
    assert registry.get_sample_value("monitoring_consumer_groups_up") == 0
    assert kafka.up is False
    assert (registry.get_sample_value("monitoring_consumer_groups_scrape_duration_seconds") or 0) > 0


def test_after_a_failed_sample_a_fresh_admin_client_reads_the_groups_and_marks_kafka_up(kafka_brokers: str) -> None:
    kafka = KafkaStatus(initially_up=True)
    config: dict[str, Any] = {"bootstrap.servers": f"127.0.0.1:{free_port()}", "error_cb": kafka.on_error}
    unreachable = AdminClient(config)
    fresh: list[AdminClient] = []

    def reconnect() -> AdminClient:  # stands in for a client rebuilt once the broker is back
        fresh.append(AdminClient({"bootstrap.servers": kafka_brokers}))
        return fresh[-1]

    monitor = ConsumerGroupMonitor(unreachable, kafka, groups=["any"], timeout=1.0, reconnect=reconnect)
    monitor.sample()
    states = [kafka.up]
    assert len(fresh) == 1
    monitor.sample()
    states.append(kafka.up)
    assert states == [False, True]
    assert len(fresh) == 1  # a good sample keeps its client


def test_the_end_offset_history_of_a_partition_no_group_commits_to_any_more_is_forgotten(
    kafka_brokers: str, single_partition_topic: str
) -> None:
    driven = Driven(kafka_brokers, single_partition_topic)
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    monitor = ConsumerGroupMonitor(admin, KafkaStatus(), groups=[driven.group])
    driven.produce(5)
    driven.consume_and_commit(5)
    monitor.sample()
    assert set(monitor._ends) == {(single_partition_topic, 0)}
    driven.consumer.close()
    admin.delete_consumer_groups([driven.group])[driven.group].result(30)
    monitor.sample()
    # Topics come and go (every test run here makes new ones): their histories must not pile up.
    assert monitor._ends == {}
