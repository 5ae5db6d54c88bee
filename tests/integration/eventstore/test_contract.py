"""One contract for every event store: the embedded SQLite stand-in and MongoDB (FerretDB here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pymongo
import pytest

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, new_event
from monitoring.eventstore import AppendResult, EventQuery, EventStore, InvalidPageToken, RetentionMode, StoredEvent
from monitoring.eventstore.mongo import MongoEventStore
from monitoring.eventstore.sqlite import SqliteEventStore

NOW = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
RETENTION = 30 * 86400.0


def event(n: int, *, type_: str = "ServiceHealthChanged", at: datetime = NOW, correlation: str = "c0") -> CloudEvent:
    data: c.Payload
    if type_ == "ServiceHealthChanged":
        data = c.ServiceHealthChanged(
            service=f"svc-{n % 3}", previous="up", current="down", reason="timeout", checked_at=at
        )
        source = "monitoring-exporter"
    else:
        data = c.AlertResolved(
            alert_id=str(n), fingerprint=f"f{n}", alertname="ServiceDown", priority="critical",
            service="asset-service", resolved_at=at, duration_seconds=12.5,
        )  # fmt: skip
        source = "monitoring-receiver"
    return new_event(
        id=f"e-{n:04d}", type=type_, source=source, time=at, data=data,
        aggregateid=f"agg-{n % 4}", aggregateversion=n, correlationid=correlation,
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "mongodb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EventStore]:
    def build() -> EventStore:
        store: EventStore
        if request.param == "sqlite":
            store = SqliteEventStore(tmp_path / "events.sqlite3", RETENTION, now=lambda: NOW)
        else:
            client: pymongo.MongoClient[dict[str, object]] = request.getfixturevalue("mongo_client")
            database = client[request.getfixturevalue("mongo_database")]
            store = MongoEventStore(database, RETENTION, now=lambda: NOW)
        store.prepare()
        return store

    return build


@pytest.fixture
def store(make_store: Callable[[], EventStore]) -> EventStore:
    return make_store()


def test_an_event_reads_back_as_stored(store: EventStore) -> None:
    original = event(1)
    assert store.append([original]).inserted == 1
    stored = store.get("e-0001")
    assert stored == StoredEvent.from_cloudevent(original, NOW)
    assert stored is not None
    assert stored.time == NOW.replace(microsecond=123000)  # millisecond precision everywhere
    assert stored.data["service"] == "svc-1"
    assert store.get("missing") is None


def test_an_id_is_stored_once_however_often_it_is_appended(store: EventStore) -> None:
    assert store.append([event(1), event(2), event(1)]).inserted == 2
    assert store.append([event(2), event(3)]) == AppendResult(1, {})
    assert [e.id for e in store.find(EventQuery()).events] == ["e-0001", "e-0002", "e-0003"]


def test_prepare_is_idempotent(make_store: Callable[[], EventStore], store: EventStore) -> None:
    store.append([event(1)])
    again = make_store()
    again.prepare()
    assert again.get("e-0001") is not None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (EventQuery(type="AlertResolved"), ["e-0002", "e-0004"]),
        (EventQuery(source="monitoring-exporter"), ["e-0001", "e-0003", "e-0005"]),
        (EventQuery(aggregateid="agg-1"), ["e-0001", "e-0005"]),
        (EventQuery(correlationid="other"), ["e-0005"]),
        (EventQuery(since=NOW + timedelta(minutes=2)), ["e-0002", "e-0003", "e-0004", "e-0005"]),
        (EventQuery(until=NOW + timedelta(minutes=2)), ["e-0001"]),
        (
            EventQuery(type="ServiceHealthChanged", since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=4)),
            ["e-0001", "e-0003"],
        ),
    ],
)
def test_filters_select_by_type_source_aggregate_correlation_and_time(
    store: EventStore, query: EventQuery, expected: list[str]
) -> None:
    store.append([
        event(n, type_="AlertResolved" if n % 2 == 0 else "ServiceHealthChanged",
              at=NOW + timedelta(minutes=n), correlation="other" if n == 5 else "c0")
        for n in (5, 4, 3, 2, 1)
    ])  # fmt: skip
    assert [e.id for e in store.find(query).events] == expected


def test_pages_cover_every_event_once_in_time_then_id_order(store: EventStore) -> None:
    # Pairs of events share a timestamp, so the id breaks ties across page boundaries.
    store.append([event(n, at=NOW + timedelta(seconds=n // 2)) for n in range(25)])
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = store.find(EventQuery(limit=4, page_token=token))
        seen += [e.id for e in page.events]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert seen == [f"e-{n:04d}" for n in range(25)]
    assert pages == 7


def test_a_forged_page_token_is_rejected(store: EventStore) -> None:
    with pytest.raises(InvalidPageToken):
        store.find(EventQuery(page_token="not-a-token!"))


def test_purge_deletes_only_events_past_the_retention_in_batches(store: EventStore) -> None:
    old = NOW - timedelta(days=31)
    store.append([event(n, at=old + timedelta(seconds=n)) for n in range(10)])
    store.append([event(n, at=NOW - timedelta(days=29)) for n in range(10, 13)])
    assert store.purge(NOW, batch_size=3) == 10
    assert [e.id for e in store.find(EventQuery()).events] == ["e-0010", "e-0011", "e-0012"]
    assert store.purge(NOW) == 0


def test_retention_mode_is_detected_from_the_server(request: pytest.FixtureRequest, store: EventStore) -> None:
    if isinstance(store, SqliteEventStore):
        assert store.retention_mode is RetentionMode.PURGE
        return
    client: pymongo.MongoClient[dict[str, object]] = request.getfixturevalue("mongo_client")
    is_ferretdb = "ferretdbVersion" in client.admin.command("buildInfo")
    assert store.retention_mode is (RetentionMode.PURGE if is_ferretdb else RetentionMode.TTL)


def test_a_document_the_store_refuses_is_reported_and_never_blocks_the_others(store: EventStore) -> None:
    dotted = msgspec.structs.replace(event(1), id="dotted", data=msgspec.Raw(b'{"a.b": 1, "$c": 2}'))
    result = store.append([dotted, event(2)])
    assert store.get("e-0002") is not None
    assert result.inserted + len(result.rejected) == 2
    if result.rejected:  # FerretDB refuses dots and dollars in field names; SQLite stores JSON text
        assert set(result.rejected) == {"dotted"}
        assert store.get("dotted") is None
