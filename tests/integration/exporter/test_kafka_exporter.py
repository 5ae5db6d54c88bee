"""The exporter against real Kafka: ground truth, dead letters, duplicates, committed offsets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import pytest
from confluent_kafka import Consumer, TopicPartition

from exporter.config import ExporterConfig
from exporter.main import Exporter, build
from monitoring.cloudevents import encode_binary, encode_structured
from tests.integration.exporter.stream import (
    RawRecord,
    Topics,
    assert_matches_truth,
    ground_truth,
    platform_events,
    produce,
    produce_raw,
    scrape,
    total,
    value,
    wait_for,
)


def exporter_config(brokers: str, topics: Topics, group_id: str, **extra: str) -> ExporterConfig:
    return ExporterConfig.from_environ(
        {
            "KAFKA_BROKERS": brokers,
            "EXPORTER_TOPICS": ",".join(topics.names),
            "EXPORTER_GROUP_ID": group_id,
            "EXPORTER_COMMIT_INTERVAL": "1s",
            "EXPORTER_LAG_INTERVAL": "1s",
            "COLLECTION_BATCH_SIZE": "500",
            **extra,
        }
    )


@pytest.fixture
def running(kafka_brokers: str, platform_topics: Topics, group_id: str) -> Iterator[Exporter]:
    exporter = build(exporter_config(kafka_brokers, platform_topics, group_id), port=0)
    exporter.start()
    yield exporter
    exporter.stop()


def metrics_url(exporter: Exporter) -> str:
    return f"http://127.0.0.1:{exporter.server.port}/metrics"


def test_scraped_counts_sums_and_histograms_equal_the_ground_truth_of_the_events_produced(
    kafka_brokers: str, platform_topics: Topics, running: Exporter
) -> None:
    events = list(platform_events(seed=11, steps=2000, start=datetime.now(UTC)))
    produce(kafka_brokers, platform_topics, events)
    truth = ground_truth(events, platform_topics)
    url = metrics_url(running)
    assert wait_for(lambda: total(scrape(url), "monitoring_events_consumed_total") >= truth.total, 60)
    samples = scrape(url)
    assert_matches_truth(samples, truth)
    assert total(samples, "monitoring_events_failed_total") == 0
    assert value(samples, "monitoring_kafka_up") == 1
    # Each cause met its follow-up once, whichever topic delivered first; nothing is inconsistent.
    rule = "transaction_completed_updates_portfolio"
    assert wait_for(
        lambda: value(scrape(url), "monitoring_sync_delay_seconds_count", rule=rule) == truth.completed_with_followup,
        30,
    )
    assert total(scrape(url), "monitoring_consistency_violations_total") == 0


def test_malformed_records_go_to_the_dead_letter_topic_and_their_valid_neighbours_are_counted(
    kafka_brokers: str, platform_topics: Topics, running: Exporter
) -> None:
    good = list(platform_events(seed=12, steps=40, start=datetime.now(UTC)))
    assets = [e for e in good if e.source == "asset-service"][:4]
    topic = platform_topics.by_source["asset-service"]
    structured, binary = encode_structured(assets[0]), encode_binary(assets[1])
    bad_version = [(k, b"three" if k == "ce_aggregateversion" else v) for k, v in encode_binary(assets[2])[1]]
    bad_data_event = encode_structured(assets[3])[0].replace(b'"asset_class":"', b'"asset_class":"x')
    records: list[RawRecord] = [
        structured,
        (b"{not json", [("content-type", b"application/cloudevents+json")]),
        binary,
        (encode_binary(assets[2])[0], bad_version),
        (bad_data_event, structured[1]),
        encode_structured(assets[2]),
        encode_structured(assets[3]),
    ]
    produce_raw(kafka_brokers, topic, records)
    url = metrics_url(running)
    assert wait_for(lambda: total(scrape(url), "monitoring_events_dead_lettered_total") >= 3, 30)
    assert wait_for(lambda: total(scrape(url), "monitoring_events_consumed_total") >= 4, 30)
    samples = scrape(url)
    assert total(samples, "monitoring_events_consumed_total") == 4
    assert value(samples, "monitoring_events_failed_total", topic=topic, reason="invalid_json") == 1
    assert value(samples, "monitoring_events_failed_total", topic=topic, reason="wrong_type") == 1
    assert value(samples, "monitoring_events_failed_total", topic=topic, reason="invalid_data") == 1

    dead = read_all(kafka_brokers, f"{topic}.dlq", 3)
    assert [d["dlq-reason"] for d in dead] == [b"invalid_json", b"wrong_type", b"invalid_data"]
    assert [d["dlq-origin-offset"] for d in dead] == [b"1", b"3", b"4"]
    assert {d["dlq-origin-topic"] for d in dead} == {topic.encode()}
    assert {d["dlq-origin-partition"] for d in dead} == {b"0"}


def read_all(brokers: str, topic: str, count: int) -> list[dict[str, bytes]]:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"{topic}-reader", "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    out: list[dict[str, bytes]] = []
    try:
        for _ in range(100):
            if len(out) >= count:
                break
            msg = consumer.poll(0.3)
            if msg is None or msg.error() is not None:
                continue
            headers = cast(list[tuple[str, bytes]], msg.headers() or [])
            out.append(dict(headers))
    finally:
        consumer.close()
    return sorted(out, key=lambda h: int(h["dlq-origin-offset"]))


def test_a_redelivered_event_is_counted_once_and_as_a_duplicate(
    kafka_brokers: str, platform_topics: Topics, running: Exporter
) -> None:
    events = list(platform_events(seed=13, steps=20, start=datetime.now(UTC)))
    produce(kafka_brokers, platform_topics, events)
    produce(kafka_brokers, platform_topics, events[:5])  # a producer retry resends five
    url = metrics_url(running)
    assert wait_for(lambda: total(scrape(url), "monitoring_events_duplicate_total") >= 5, 30)
    samples = scrape(url)
    assert total(samples, "monitoring_events_consumed_total") == len(events)
    assert total(samples, "monitoring_events_duplicate_total") == 5
    assert total(samples, "monitoring_consistency_violations_total") == 0


def test_processed_offsets_are_committed_and_a_stop_commits_the_last_batch(
    kafka_brokers: str, platform_topics: Topics, group_id: str
) -> None:
    exporter = build(exporter_config(kafka_brokers, platform_topics, group_id, EXPORTER_COMMIT_INTERVAL="1h"), port=0)
    exporter.start()
    events = list(platform_events(seed=14, steps=300, start=datetime.now(UTC)))
    produce(kafka_brokers, platform_topics, events)
    url = metrics_url(exporter)
    assert wait_for(lambda: total(scrape(url), "monitoring_events_consumed_total") >= len(events), 60)
    exporter.stop()  # the commit interval never passed: only the shutdown commit can store these
    probe = Consumer({"bootstrap.servers": kafka_brokers, "group.id": group_id})
    try:
        partitions = [TopicPartition(t, p) for t in platform_topics.names for p in range(3)]
        committed = probe.committed(partitions, timeout=10)
    finally:
        probe.close()
    assert sum(max(tp.offset, 0) for tp in committed) == len(events)
