"""The exporter's domain events reach monitoring.events, the event store and PostgreSQL snapshots."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import psycopg
import pymongo
from confluent_kafka import Consumer

from monitoring.eventstore import EventQuery
from monitoring.eventstore.mongo import MongoEventStore
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import scrape, value, wait_for
from tests.services import free_port
from tests.sinks import RecordingSink


def read_ids(brokers: str, wanted: set[str], timeout: float) -> set[str]:
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": f"verify-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["monitoring.events"])
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not wanted <= set(seen):
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            payload = message.value()
            assert payload is not None
            event_id = json.loads(payload)["id"]
            if event_id in wanted:
                seen.append(event_id)
    finally:
        consumer.close()
    assert len(seen) == len(set(seen)), "an event reached the topic twice"
    return set(seen)


def test_health_changes_and_cycle_summaries_are_published_stored_and_snapshotted(
    kafka_brokers: str,
    postgres_uri: str,
    mongo_client: pymongo.MongoClient[dict[str, object]],
    mongo_database: str,
    sink: RecordingSink,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    service = f"flaky-{uuid.uuid4().hex[:8]}"
    checks = tmp_path / "services.yaml"
    checks.write_text(
        f"services:\n  - {{name: {service}, url: '{sink.url}/health', interval: 1s,"
        " failures_to_down: 1, successes_to_up: 1}\n"
    )
    instance = f"exporter-{uuid.uuid4().hex[:8]}"
    exporter = ExporterProcess(
        "exporter-domain-events",
        log_dir,
        {
            "KAFKA_BROKERS": kafka_brokers,
            "POSTGRES_URI": postgres_uri,
            "MONGODB_URI": f"mongodb://127.0.0.1:27017/{mongo_database}",
            "EXPORTER_TOPICS": f"unused.{uuid.uuid4().hex[:8]}",
            "EXPORTER_CONSISTENCY": "off",
            "EXPORTER_HEALTH_CHECKS": str(checks),
            "EXPORTER_INSTANCE": instance,
            "COLLECTION_INTERVAL": "1s",
        },
    )
    store = MongoEventStore(mongo_client[mongo_database], retention_seconds=30 * 86400)
    try:
        assert wait_for(lambda: len(store.find(EventQuery(type="ServiceHealthChanged")).events) == 1, 30)
        sink.status = 503  # the service goes down: one more transition
        assert wait_for(lambda: len(store.find(EventQuery(type="ServiceHealthChanged")).events) == 2, 30)
        assert wait_for(lambda: len(store.find(EventQuery(type="MetricCollected")).events) >= 2, 30)
        samples = scrape(exporter.metrics_url)
        assert value(samples, "monitoring_domain_events_emitted_total", type="ServiceHealthChanged") == 2
    finally:
        exporter.stop()
    assert exporter.proc.returncode == 0, exporter.log_tail()

    health = store.find(EventQuery(type="ServiceHealthChanged")).events
    assert [(e.data["service"], e.data["previous"], e.data["current"]) for e in health] == [
        (service, "unknown", "up"),
        (service, "up", "down"),
    ]
    assert all(e.source == "monitoring-exporter" and e.aggregateid == service for e in health)
    collected = store.find(EventQuery(type="MetricCollected", limit=1000)).events
    assert {e.aggregateid for e in collected} == {f"{instance}/exporter"}
    assert all(e.data["collector"] == "exporter" and e.data["samples"] == len(e.data["values"]) for e in collected)
    assert any(v["series"] == f'service_up{{service="{service}"}}' for e in collected for v in e.data["values"])

    wanted = {e.id for e in health} | {e.id for e in collected}
    assert read_ids(kafka_brokers, wanted, timeout=30) == wanted  # each on the topic, once

    with psycopg.connect(postgres_uri) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT collected_at), count(*) FROM metric_snapshots WHERE collector = 'exporter'"
        ).fetchone()
    assert row is not None
    cycles, rows = row
    assert cycles >= len(collected)
    assert rows >= cycles


def test_without_kafka_or_mongodb_the_events_go_to_the_log_and_the_embedded_store(
    tmp_path: Path, log_dir: Path, sink: RecordingSink
) -> None:
    from monitoring.eventstore import EventStoreUnavailable
    from monitoring.eventstore.sqlite import SqliteEventStore

    checks = tmp_path / "services.yaml"
    checks.write_text(f"services:\n  - {{name: local-svc, url: '{sink.url}/health', interval: 1s}}\n")
    store_path = tmp_path / "events.sqlite3"
    exporter = ExporterProcess(
        "exporter-embedded-events",
        log_dir,
        {"EXPORTER_HEALTH_CHECKS": str(checks), "EXPORTER_EVENT_STORE_PATH": str(store_path),
         "COLLECTION_INTERVAL": "1s", "EXPORTER_PORT": str(free_port())},
    )  # fmt: skip
    store = SqliteEventStore(store_path, retention_seconds=30 * 86400)

    def stored() -> int:  # the file can exist a moment before the exporter has created its table
        try:
            return len(store.find(EventQuery()).events) if store_path.exists() else 0
        except EventStoreUnavailable:
            return 0

    try:
        assert wait_for(lambda: stored() >= 2, 30)
    finally:
        exporter.stop()
    types = {e.type for e in store.find(EventQuery(limit=1000)).events}
    assert types == {"ServiceHealthChanged", "MetricCollected"}
    assert '"event": "domain_event"' in exporter.log_path.read_text()
