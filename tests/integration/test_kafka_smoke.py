"""Kafka: produce, consume through a consumer group, commit, and resume from the commit."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition


def consume(brokers: str, topic: str, group: str, count: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        for _ in range(200):
            if len(values) >= count:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            value = msg.value()
            assert value is not None
            values.append(value)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def test_messages_consumed_by_a_group_are_not_redelivered_after_commit(kafka_brokers: str, kafka_topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_brokers, "enable.idempotence": True})
    for i in range(30):
        producer.produce(kafka_topic, key=str(i % 3).encode(), value=f"m{i}".encode())
    assert producer.flush(30) == 0

    first = consume(kafka_brokers, kafka_topic, "smoke-group", 30)
    assert sorted(first) == sorted(f"m{i}".encode() for i in range(30))

    producer.produce(kafka_topic, key=b"0", value=b"after-commit")
    assert producer.flush(30) == 0
    second = consume(kafka_brokers, kafka_topic, "smoke-group", 1)
    assert second == [b"after-commit"]


def test_committed_offsets_are_visible_to_a_new_consumer(kafka_brokers: str, kafka_topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_brokers})
    for i in range(9):
        producer.produce(kafka_topic, value=b"x", partition=i % 3)
    assert producer.flush(30) == 0
    consume(kafka_brokers, kafka_topic, "smoke-offsets", 9)

    probe = Consumer({"bootstrap.servers": kafka_brokers, "group.id": "smoke-offsets"})
    try:
        committed = probe.committed([TopicPartition(kafka_topic, p) for p in range(3)], timeout=10)
    finally:
        probe.close()
    assert sorted(tp.offset for tp in committed) == [3, 3, 3]
