"""A platform topic created while the exporter runs is consumed without a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import SERVICES, Topics, delete_topics, platform_events, produce, scrape, total

# librdkafka looks for topics it is subscribed to but cannot see at each metadata refresh, every
# 5 minutes by default; the exporter refreshes every 10 s. 30 s leaves room for the rebalance
# that assigns the new partitions, on a loaded machine.
PICKUP_BOUND_SECONDS = 30.0


@pytest.fixture
def topics(kafka_brokers: str) -> Iterator[Topics]:
    """Names for asset, portfolio and transaction topics; only the first two exist yet."""
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    topics = Topics({source: f"{prefix}.{source.split('-')[0]}" for source in SERVICES})
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    existing = [NewTopic(name, 3, 1) for name in topics.names if not name.endswith(".transaction")]
    for future in admin.create_topics(existing).values():
        future.result(30)
    yield topics
    delete_topics(kafka_brokers, topics)


def test_events_of_a_topic_created_after_start_are_counted_within_30_seconds(
    kafka_brokers: str, topics: Topics, log_dir: Path
) -> None:
    events = list(platform_events(seed=21, steps=400, start=datetime.now(UTC)))
    late = topics.by_source["transaction-service"]
    exporter = ExporterProcess(
        "exporter-new-topics",
        log_dir,
        {
            "KAFKA_BROKERS": kafka_brokers,
            "EXPORTER_TOPICS": ",".join(topics.names),
            "EXPORTER_GROUP_ID": f"test-new-topics-{uuid.uuid4().hex[:8]}",
        },
    )
    try:
        early = [e for e in events if topics.of(e) != late]
        produce(kafka_brokers, topics, early)
        deadline = time.monotonic() + 60
        while total(scrape(exporter.metrics_url), "monitoring_events_consumed_total") < len(early):
            assert time.monotonic() < deadline, f"the existing topics were not consumed:\n{exporter.log_tail()}"
            time.sleep(0.2)

        admin = AdminClient({"bootstrap.servers": kafka_brokers})
        assert late not in admin.list_topics(timeout=10).topics
        admin.create_topics([NewTopic(late, 3, 1)])[late].result(30)
        created = time.monotonic()
        transactions = [e for e in events if topics.of(e) == late]
        produce(kafka_brokers, topics, transactions)

        def counted() -> float:
            return total(scrape(exporter.metrics_url), "monitoring_events_consumed_total", topic=late)

        while counted() < len(transactions) and time.monotonic() - created < PICKUP_BOUND_SECONDS:
            time.sleep(0.2)
        assert counted() == len(transactions), exporter.log_tail()
    finally:
        exporter.stop()
    assert exporter.proc.returncode == 0, exporter.log_tail()
