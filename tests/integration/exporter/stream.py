"""Test support: platform events on real Kafka topics, their ground truth, and scraping an exporter."""

from __future__ import annotations

import math
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client.parser import text_string_to_metric_families

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, decode_data, encode_binary, encode_structured
from simulator.platform import PlatformModel

SERVICES = ("asset-service", "portfolio-service", "transaction-service")


@dataclass(frozen=True)
class Topics:
    """Fresh topics standing in for asset.events, portfolio.events and transaction.events."""

    by_source: dict[str, str]

    @property
    def names(self) -> list[str]:
        return list(self.by_source.values())

    def of(self, event: CloudEvent) -> str:
        return self.by_source[event.source]


def create_topics(brokers: str, partitions: int = 3) -> Topics:
    prefix = f"test.{uuid.uuid4().hex[:10]}"
    by_source = {source: f"{prefix}.{source.split('-')[0]}" for source in SERVICES}
    admin = AdminClient({"bootstrap.servers": brokers})
    names = list(by_source.values())
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)
    return Topics(by_source)


def delete_topics(brokers: str, topics: Topics) -> None:
    admin = AdminClient({"bootstrap.servers": brokers})
    existing = set(admin.list_topics(timeout=10).topics)
    names = [n for t in topics.names for n in (t, f"{t}.dlq") if n in existing]
    if names:
        for future in admin.delete_topics(names).values():
            future.result(30)


def produce(brokers: str, topics: Topics, events: Iterable[CloudEvent], producer: Producer | None = None) -> int:
    """Produce ``events`` keyed by aggregate id, alternating structured and binary mode."""
    producer = producer or Producer({"bootstrap.servers": brokers, "linger.ms": 20, "enable.idempotence": True})
    count = 0
    for count, event in enumerate(events, 1):
        value, headers = (encode_structured if count % 2 else encode_binary)(event)
        key = (event.aggregateid or event.id).encode()
        while True:
            try:
                wire: list[tuple[str, str | bytes | None]] = list(headers)
                producer.produce(topics.of(event), value=value, key=key, headers=wire)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    return count


RawRecord = tuple[bytes | None, list[tuple[str, bytes]]]


def produce_raw(brokers: str, topic: str, records: Sequence[RawRecord]) -> None:
    producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    for value, headers in records:
        wire: list[tuple[str, str | bytes | None]] = list(headers)
        producer.produce(topic, value=value, key=b"k", headers=wire, partition=0)
    assert producer.flush(30) == 0


@dataclass
class GroundTruth:
    """What the exporter must report for a list of events, computed from the events themselves."""

    consumed: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    transactions: Counter[tuple[str, str]] = field(default_factory=Counter)
    amounts: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    processing_count: Counter[str] = field(default_factory=Counter)
    processing_sums: dict[str, list[float]] = field(default_factory=dict)
    assets_created: Counter[str] = field(default_factory=Counter)
    valuation_changes: Counter[str] = field(default_factory=Counter)
    returns: Counter[str] = field(default_factory=Counter)
    completed_with_followup: int = 0

    @property
    def total(self) -> int:
        return sum(self.consumed.values())


def ground_truth(events: Sequence[CloudEvent], topics: Topics) -> GroundTruth:
    truth = GroundTruth()
    followups = {e.correlationid for e in events if e.type == "PortfolioPerformanceUpdated"}
    for event in events:
        truth.consumed[(topics.of(event), event.source, event.type)] += 1
        payload = decode_data(event)
        match payload:
            case c.TransactionCompleted():
                kind = payload.transaction_type.value
                truth.transactions[(kind, "completed")] += 1
                truth.amounts.setdefault((kind, payload.currency), []).append(payload.amount)
                truth.processing_count[kind] += 1
                truth.processing_sums.setdefault(kind, []).append(payload.processing_seconds)
                truth.completed_with_followup += event.correlationid in followups
            case c.TransactionInitiated():
                truth.transactions[(payload.transaction_type.value, "initiated")] += 1
            case c.TransactionFailed():
                truth.transactions[(payload.transaction_type.value, "failed")] += 1
            case c.AssetCreated():
                truth.assets_created[payload.asset_class.value] += 1
            case c.AssetValuationChanged():
                truth.valuation_changes[payload.asset_class.value] += payload.old_value > 0
            case c.PortfolioPerformanceUpdated():
                truth.returns[payload.period] += 1
    return truth


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test URL
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def assert_matches_truth(samples: Samples, truth: GroundTruth) -> None:
    """Every count, sum and histogram count of ``truth`` equals the scraped value."""
    for (topic, source, type_), count in truth.consumed.items():
        assert value(samples, "monitoring_events_consumed_total", topic=topic, source=source, type=type_) == count
    assert total(samples, "monitoring_events_consumed_total") == truth.total
    for (kind, status), count in truth.transactions.items():
        assert value(samples, "transactions_total", type=kind, status=status) == count
    assert total(samples, "transactions_total") == sum(truth.transactions.values())
    for (kind, currency), amounts in truth.amounts.items():
        scraped = value(samples, "transaction_amount_total", type=kind, currency=currency)
        assert math.isclose(scraped, math.fsum(amounts), rel_tol=1e-12), (kind, currency)
    for kind, count in truth.processing_count.items():
        assert value(samples, "transaction_processing_seconds_count", type=kind) == count
        scraped = value(samples, "transaction_processing_seconds_sum", type=kind)
        assert math.isclose(scraped, math.fsum(truth.processing_sums[kind]), rel_tol=1e-12)
    for cls, count in truth.assets_created.items():
        assert value(samples, "asset_created_total", asset_class=cls) == count
    for cls, count in truth.valuation_changes.items():
        assert value(samples, "asset_valuation_change_ratio_count", asset_class=cls) == count
    for period, count in truth.returns.items():
        assert value(samples, "portfolio_return_ratio_count", period=period) == count
    assert total(samples, "monitoring_event_lag_seconds_count") == truth.total


def platform_events(seed: int, steps: int, start: datetime) -> Iterator[CloudEvent]:
    return PlatformModel(seed=seed).events(steps, start)
