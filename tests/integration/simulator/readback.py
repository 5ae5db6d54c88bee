"""Read the simulator's topics back with a plain consumer and work out, independently, what is in them."""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, EventDecodeError, decode, decode_data

SERVICES = ("asset", "portfolio", "transaction")


def create_platform_topics(brokers: str, prefix: str) -> list[str]:
    admin = AdminClient({"bootstrap.servers": brokers})
    names = [f"{prefix}{service}.events" for service in SERVICES]
    futures = admin.create_topics([NewTopic(n, num_partitions=3, replication_factor=1) for n in names])
    for future in futures.values():
        future.result(30)
    return names


def delete_topics(brokers: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": brokers})
    for future in admin.delete_topics(names).values():
        future.result(30)


@dataclass(frozen=True)
class ReadRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def read_all(brokers: str, topics: list[str], expected: int, timeout: float = 60.0) -> list[ReadRecord]:
    """Every record of ``topics`` (at least ``expected``, then to the end of each partition)."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"readback-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe(topics)
    records: list[ReadRecord] = []
    at_end: set[tuple[str, int]] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and (len(records) < expected or len(at_end) < 3 * len(topics)):
            for msg in consumer.consume(1000, 0.5):
                error = msg.error()
                partition = (msg.topic() or "", msg.partition() or 0)
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(partition)
                    continue
                assert error is None, error
                at_end.discard(partition)
                records.append(
                    ReadRecord(
                        msg.topic() or "",
                        msg.partition() or 0,
                        msg.offset() or 0,
                        msg.key(),
                        msg.value(),
                        _headers(msg.headers()),
                    )
                )
    finally:
        consumer.close()
    return records


def _headers(
    raw: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, bytes]]:
    pairs = list(raw.items()) if isinstance(raw, dict) else raw or []
    return [(k, v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]


@dataclass
class Observed:
    """What the topics contain, worked out from the records alone."""

    events: list[tuple[ReadRecord, CloudEvent, c.Payload]] = field(default_factory=list)
    decode_failures: Counter[str] = field(default_factory=Counter)
    malformed_keys: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    id_counts: Counter[str] = field(default_factory=Counter)

    @property
    def distinct(self) -> dict[str, tuple[ReadRecord, CloudEvent, c.Payload]]:
        return {event.id: (record, event, payload) for record, event, payload in self.events}

    def events_by_type(self) -> Counter[str]:
        return Counter(event.type for _, event, _ in self.distinct.values())

    def duplicates(self) -> set[str]:
        return {event_id for event_id, n in self.id_counts.items() if n > 1}

    def version_anomalies(self) -> tuple[set[str], set[str]]:
        """(aggregates whose first record is version 2 and then version 1, aggregates that skip a version)."""
        by_aggregate: defaultdict[str, list[int]] = defaultdict(list)
        seen: set[str] = set()
        for record, event, _ in sorted(self.events, key=lambda e: (e[0].topic, e[0].partition, e[0].offset)):
            if event.id in seen:
                continue
            seen.add(event.id)
            assert event.aggregateid is not None
            assert event.aggregateversion is not None
            assert record.key == event.aggregateid.encode()
            by_aggregate[event.aggregateid].append(event.aggregateversion)
        swapped, gapped = set(), set()
        for aggregate, versions in by_aggregate.items():
            if versions == list(range(1, len(versions) + 1)):
                continue
            if versions[:2] == [2, 1] and versions[2:] == list(range(3, len(versions) + 1)):
                swapped.add(aggregate)
            elif versions == [1, 3]:
                gapped.add(aggregate)
            else:
                raise AssertionError(f"{aggregate}: unexplained versions {versions}")
        return swapped, gapped

    def missing_followups(self) -> set[str]:
        completed = {e.correlationid for _, e, _ in self.distinct.values() if e.type == "TransactionCompleted"}
        followed = {e.correlationid for _, e, _ in self.distinct.values() if e.source == "portfolio-service"}
        return {cid for cid in completed - followed if cid is not None}

    def followup_delays(self) -> dict[str, float]:
        """correlation id -> seconds from TransactionCompleted to its portfolio follow-up."""
        completed: dict[str, datetime] = {}
        followups: dict[str, datetime] = {}
        for _, event, _ in self.distinct.values():
            if event.correlationid is None:
                continue
            if event.type == "TransactionCompleted":
                completed[event.correlationid] = event.time
            elif event.type in ("PortfolioRebalanced", "PortfolioPerformanceUpdated"):
                followups[event.correlationid] = event.time
        return {cid: (followups[cid] - t).total_seconds() for cid, t in completed.items() if cid in followups}

    def transactions(self) -> dict[str, dict[str, int]]:
        status = {
            "TransactionInitiated": "initiated",
            "TransactionCompleted": "completed",
            "TransactionFailed": "failed",
        }
        out: defaultdict[str, Counter[str]] = defaultdict(Counter)
        for _, event, payload in self.distinct.values():
            if event.type in status:
                out[payload.transaction_type.value][status[event.type]] += 1  # type: ignore[attr-defined]
        return {k: dict(v) for k, v in out.items()}

    def amounts(self) -> dict[str, dict[str, float]]:
        status = {
            "TransactionInitiated": "initiated",
            "TransactionCompleted": "completed",
            "TransactionFailed": "failed",
        }
        out: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        for _, event, payload in self.distinct.values():
            if event.type in status:
                out[status[event.type]][payload.currency] += payload.amount  # type: ignore[attr-defined]
        return {k: {cur: round(v, 2) for cur, v in by.items()} for k, by in out.items()}

    def payloads(self, event_type: str) -> list[Any]:
        return [payload for _, event, payload in self.distinct.values() if event.type == event_type]


def observe(records: list[ReadRecord]) -> Observed:
    observed = Observed()
    for record in records:
        try:
            event = decode(record.value, record.headers)
            payload = decode_data(event)
        except EventDecodeError as exc:
            observed.decode_failures[exc.reason.value] += 1
            observed.malformed_keys[exc.reason.value].add((record.key or b"").decode())
            continue
        observed.id_counts[event.id] += 1
        observed.events.append((record, event, payload))
    return observed


def as_builtins(payload: c.Payload) -> Any:
    return msgspec.to_builtins(payload)
