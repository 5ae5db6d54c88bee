"""Alertmanager webhooks become domain events on Kafka and in the event store, exactly once each.

`monitoring receiver` (gunicorn, two workers, each with its relay) on PostgreSQL, with a
private Kafka broker that is down while the alerts arrive and started afterwards, and the
shared FerretDB as the event store. Then GET /api/v1/events filters and pages over them.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import pytest
from confluent_kafka import Consumer

from tests import services
from tests.e2e.receiver.conftest import ReceiverProcess, wait_until
from tests.private_services import PrivateKafka
from tests.unit.receiver.fakes import alert, webhook

pytestmark = pytest.mark.e2e
TOKEN = "e2e-events-token"
TOPIC = "monitoring.events"


# Recent times: the relay purges events older than the events retention (30 days) from the store.
STARTS = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
ENDS = STARTS + timedelta(minutes=90)
BETWEEN = (STARTS + timedelta(minutes=60)).isoformat()


def kinded(name: str, kind: str, fingerprint: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    made = alert(name, "high", status=status, fingerprint=fingerprint, starts_at=STARTS.isoformat())
    made["labels"].update(kind=kind, **labels)
    made["annotations"]["runbook_url"] = f"docs/alerting.md#{name.lower()}"
    if status == "resolved":
        made["endsAt"] = ENDS.isoformat()
    return made


FIRING = webhook(
    kinded("HighLatency", "threshold", "aaaa000000000001"),
    kinded("PerformanceAnomaly", "anomaly", "aaaa000000000002", metric="request_rate"),
    kinded("ServiceDown", "threshold", "aaaa000000000003"),
)
RESOLVED = webhook(
    kinded("HighLatency", "threshold", "aaaa000000000001", "resolved"),
    kinded("PerformanceAnomaly", "anomaly", "aaaa000000000002", "resolved", metric="request_rate"),
)
# three AlertCreated, two ThresholdExceeded, one PerformanceAnomaly, two AlertResolved
EXPECTED = Counter({"AlertCreated": 3, "ThresholdExceeded": 2, "PerformanceAnomaly": 1, "AlertResolved": 2})


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    """A private broker, formatted but not started: Kafka is down until the test starts it."""
    (tmp_path / "kafka").mkdir()
    broker = PrivateKafka(tmp_path / "kafka")
    yield broker
    broker.stop()


def get_json(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def events(receiver: ReceiverProcess, **params: str) -> list[dict[str, Any]]:
    status, body = get_json(f"{receiver.url}/api/v1/events?{urllib.parse.urlencode(params)}", receiver.api_key)
    assert status == 200, body
    found: list[dict[str, Any]] = body["events"]
    return found


def read_topic(brokers: str, expected: int) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Every record on the topic: until ``expected`` have arrived, then 2 s more to catch duplicates."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": f"verify-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([TOPIC])
    records: list[tuple[bytes | None, dict[str, Any]]] = []
    deadline, settle = time.monotonic() + 30, None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            value = message.value()
            assert value is not None
            records.append((message.key(), json.loads(value)))
            if len(records) >= expected and settle is None:
                settle = time.monotonic() + 2
    finally:
        consumer.close()
    return records


def outbox_rows(postgres_uri: str) -> int:
    with psycopg.connect(postgres_uri) as conn:
        row = conn.execute("SELECT count(*) FROM domain_event_outbox").fetchone()
    assert row is not None
    return int(row[0])


def test_alert_events_reach_kafka_and_the_event_store_once_through_a_kafka_outage(
    postgres_uri: str, mongo_database: str, kafka: PrivateKafka, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_MULTIPROC"))}
    env.update(
        POSTGRES_URI=postgres_uri,
        KAFKA_BROKERS=kafka.brokers,
        MONGODB_URI=f"{services.mongodb_uri().rstrip('/')}/{mongo_database}",
        RECEIVER_PORT=str(services.free_port()),
        RECEIVER_WORKERS="2",
        RECEIVER_WEBHOOK_TOKEN=TOKEN,
        RECEIVER_POLL_INTERVAL="100ms",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        LOG_FORMAT="json",
    )
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        # Kafka is down: the alerts are recorded, their events wait in the outbox
        assert receiver.post(FIRING, token=TOKEN) == 200
        assert receiver.post(FIRING, token=TOKEN) == 200  # Alertmanager's repeat
        assert receiver.post(RESOLVED, token=TOKEN) == 200
        assert outbox_rows(postgres_uri) == 8
        # the event store is up, so they are stored meanwhile, and readable through the API
        wait_until(lambda: len(events(receiver)) == 8, 30, "events stored while Kafka is down")
        assert receiver.metric('receiver_domain_events_pending{stage="published"}') == 8
        assert receiver.metric('receiver_domain_events_oldest_pending_age_seconds{stage="published"}') > 0

        kafka.start()
        wait_until(
            lambda: receiver.metric('receiver_domain_events_pending{stage="published"}') == 0, 60, "events published"
        )
        # a resend after recovery is the same events: nothing new in the outbox, on Kafka or in the store
        assert receiver.post(FIRING, token=TOKEN) == 200
        assert receiver.post(RESOLVED, token=TOKEN) == 200
        assert outbox_rows(postgres_uri) == 8
        wait_until(  # 8 published + 8 stored; the counter moves just after the outbox row is marked
            lambda: receiver.metric("receiver_domain_events_relayed_total") == 16, 10, "relayed counted"
        )

        records = read_topic(kafka.brokers, expected=8)
        ids = Counter(record["id"] for _, record in records)
        assert len(records) == 8
        assert set(ids.values()) == {1}  # each event exactly once on the topic
        assert Counter(record["type"] for _, record in records) == EXPECTED
        assert all(key == record["aggregateid"].encode() for key, record in records)  # keyed by fingerprint

        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            services.mongodb_uri(), serverSelectionTimeoutMS=5000
        )
        try:
            stored = list(client[mongo_database]["events"].find({}, {"_id": 0, "id": 1}))
        finally:
            client.close()
        assert sorted(d["id"] for d in stored) == sorted(ids)  # each event exactly once in the store

        listed = events(receiver)
        assert [e["id"] for e in listed] == [e["id"] for e in sorted(listed, key=lambda e: (e["time"], e["id"]))]
        assert {e["id"] for e in listed} == set(ids)
        assert len(events(receiver, type="ThresholdExceeded")) == 2
        latency = events(receiver, aggregate="aaaa000000000001")
        assert [e["type"] for e in latency][-1] == "AlertResolved"
        assert sorted(e["type"] for e in latency) == ["AlertCreated", "AlertResolved", "ThresholdExceeded"]
        assert events(receiver, correlation_id=latency[0]["correlationid"]) == latency
        anomaly = events(receiver, type="PerformanceAnomaly")[0]["data"]
        assert anomaly["metric"] == "request_rate"
        assert anomaly["links"]["runbook"] == "docs/alerting.md#performanceanomaly"
        # the alerts start at STARTS; the resolves are at their endsAt, 90 minutes later
        assert len(events(receiver, **{"from": BETWEEN})) == 2
        assert len(events(receiver, to=BETWEEN, source="monitoring-receiver")) == 6

        paged: list[str] = []
        token = None
        for _ in range(5):
            params = {"limit": "3", **({"page_token": token} if token else {})}
            status, page = get_json(f"{receiver.url}/api/v1/events?{urllib.parse.urlencode(params)}", receiver.api_key)
            assert status == 200
            paged += [e["id"] for e in page["events"]]
            token = page["next_page_token"]
            if token is None:
                break
        assert paged == [e["id"] for e in listed]
        status, error = get_json(f"{receiver.url}/api/v1/events?from=yesterday", receiver.api_key)
        assert (status, error["error"].split(":")[0]) == (400, "from")
    finally:
        receiver.stop()
