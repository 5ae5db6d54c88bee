from __future__ import annotations

import itertools
import urllib.request
from datetime import UTC, datetime

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from exporter.http import HttpServer, create_app
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.records import ConsumedRecord, Record
from exporter.sources import InProcessSource
from monitoring import catalogue as c
from monitoring.cloudevents import decode_data, encode_binary, encode_structured
from simulator.platform import PlatformModel


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def processor(registry: CollectorRegistry) -> EventProcessor:
    ticks = itertools.count()
    return EventProcessor(EventMetrics(registry), clock=lambda: next(ticks) * 0.001)


def test_valid_events_are_counted_by_topic_source_and_type(
    registry: CollectorRegistry, processor: EventProcessor
) -> None:
    events = list(PlatformModel(seed=7).events(50, datetime(2026, 1, 1, tzinfo=UTC)))
    for i, event in enumerate(events):
        value, headers = (encode_structured if i % 2 else encode_binary)(event)
        processor.process(Record("t", 0, i, value, headers))
    for type_ in {e.type for e in events}:
        expected = sum(1 for e in events if e.type == type_)
        source = next(e.source for e in events if e.type == type_)
        labels = {"topic": "t", "source": source, "type": type_}
        assert registry.get_sample_value("monitoring_events_consumed_total", labels) == expected
    assert registry.get_sample_value("monitoring_event_processing_seconds_count", {"topic": "t"}) == len(events)


def test_a_bad_record_is_counted_with_its_reason_and_its_neighbours_still_count(
    registry: CollectorRegistry, processor: EventProcessor
) -> None:
    good = next(PlatformModel(seed=1).events(1, datetime(2026, 1, 1, tzinfo=UTC)))
    value, headers = encode_structured(good)
    processor.process(Record("t", 0, 0, value, headers))
    processor.process(Record("t", 0, 1, b"{not json", []))
    processor.process(Record("t", 0, 2, value, headers))
    assert registry.get_sample_value("monitoring_events_failed_total", {"topic": "t", "reason": "invalid_json"}) == 1
    consumed = {"topic": "t", "source": good.source, "type": good.type}
    assert registry.get_sample_value("monitoring_events_consumed_total", consumed) == 2


def test_unknown_types_are_counted_and_ignored(registry: CollectorRegistry, processor: EventProcessor) -> None:
    value = b'{"id":"1","source":"s","type":"Mystery","specversion":"1.0","time":"2026-01-01T00:00:00Z","data":{}}'
    processor.process(Record("t", 0, 0, value, []))
    assert registry.get_sample_value("monitoring_events_unknown_type_total", {"topic": "t"}) == 1
    assert registry.get_sample_value("monitoring_events_failed_total", {"topic": "t", "reason": "invalid_json"}) is None


def test_the_in_process_source_paces_events_by_its_clock() -> None:
    now = [100.0]
    source = InProcessSource(PlatformModel(seed=3), rate=10, clock=lambda: now[0], sleep=lambda s: None)
    assert len(source.poll(1000, 0.5)) == 1  # the first event is due at once
    now[0] += 1.0
    assert len(source.poll(1000, 0.5)) == 10
    now[0] += 0.05
    assert source.poll(1000, 0.5) == []
    now[0] += 10.0
    assert len(source.poll(20, 0.5)) == 20  # bounded by the batch size


def test_the_model_is_deterministic_for_a_seed() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert list(PlatformModel(seed=5).events(30, start)) == list(PlatformModel(seed=5).events(30, start))
    assert list(PlatformModel(seed=5).events(30, start)) != list(PlatformModel(seed=6).events(30, start))


def readiness(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize(("ready", "status"), [(True, 200), (False, 503)])
def test_the_http_app_serves_metrics_and_health(registry: CollectorRegistry, ready: bool, status: int) -> None:
    EventMetrics(registry).consumed.labels("t", "s", "AssetCreated").inc()
    server = HttpServer(create_app(registry, ready=lambda: ready), "127.0.0.1", 0)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/metrics") as response:  # noqa: S310 - loopback
            assert b'monitoring_events_consumed_total{source="s",topic="t",type="AssetCreated"} 1.0' in response.read()
        with urllib.request.urlopen(f"{base}/healthz") as response:  # noqa: S310
            assert response.status == 200
        assert readiness(f"{base}/readyz") == status
    finally:
        server.stop()


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    def send(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        self.sent.append((record.offset() or 0, reason))


def test_rejected_records_go_to_the_dead_letters_with_their_reason(registry: CollectorRegistry) -> None:
    dead = RecordingDeadLetters()
    processor = EventProcessor(EventMetrics(registry), clock=lambda: 0.0, dead_letters=dead)
    good = next(PlatformModel(seed=1).events(1, datetime(2026, 1, 1, tzinfo=UTC)))
    value, headers = encode_binary(good)
    old_spec = [(k, b"0.3" if k == "ce_specversion" else v) for k, v in headers]
    processor.process(Record("t", 0, 0, value, old_spec))
    processor.process(Record("t", 0, 1, b"", []))
    processor.process(Record("t", 0, 2, value, headers))
    assert dead.sent == [(0, "unsupported_specversion"), (1, "invalid_json")]
    assert registry.get_sample_value("monitoring_events_dead_lettered_total", {"topic": "t"}) == 2


def test_a_producer_inventing_sources_cannot_explode_the_series_count(registry: CollectorRegistry) -> None:
    processor = EventProcessor(EventMetrics(registry), clock=lambda: 0.0, label_limit=3)
    good = next(PlatformModel(seed=1).events(1, datetime(2026, 1, 1, tzinfo=UTC)))
    for i in range(50):
        value, headers = encode_structured(msgspec.structs.replace(good, id=f"e{i}", source=f"rogue-{i}"))
        processor.process(Record("t", 0, i, value, headers))
    sources = {
        s.labels["source"] for m in registry.collect() if m.name == "monitoring_events_consumed" for s in m.samples
    }
    assert sources == {"rogue-0", "rogue-1", "rogue-2", "other"}
    other = {"topic": "t", "source": "other", "type": good.type}
    assert registry.get_sample_value("monitoring_events_consumed_total", other) == 47


def test_business_metrics_follow_the_payloads(registry: CollectorRegistry) -> None:
    processor = EventProcessor(EventMetrics(registry), clock=lambda: 0.0, business=BusinessMetrics(registry))
    events = list(PlatformModel(seed=9).events(300, datetime(2026, 1, 1, tzinfo=UTC)))
    for i, event in enumerate(events):
        value, headers = encode_structured(event)
        processor.process(Record("t", 0, i, value, headers))
    failed = [e for e in events if e.type == "TransactionFailed"]
    assert failed  # the model fails about 5% of transactions
    kinds = [msgspec.convert(decode_data(e), c.TransactionFailed).transaction_type.value for e in failed]
    for kind in set(kinds):
        expected = kinds.count(kind)
        assert registry.get_sample_value("transactions_total", {"type": kind, "status": "failed"}) == expected
    created = sum(1 for e in events if e.type == "AssetCreated")
    assert (
        sum(registry.get_sample_value("asset_created_total", {"asset_class": cls.value}) or 0 for cls in c.AssetClass)
        == created
    )


@pytest.mark.parametrize(
    ("offset_seconds", "counted"),
    [
        (-59 * 60, True),  # 59 minutes ahead of the wall clock: clocks drift
        (-61 * 60, False),  # over an hour ahead
        (365 * 86400, True),  # a year old: retention keeps weeks, replays happen
        (367 * 86400, False),  # older than 366 days
    ],
    ids=["59 min ahead", "61 min ahead", "365 days old", "367 days old"],
)
def test_an_event_time_further_than_the_accepted_window_from_now_is_rejected(
    registry: CollectorRegistry, offset_seconds: float, counted: bool
) -> None:
    event = next(PlatformModel(seed=5).events(1, datetime(2026, 1, 1, tzinfo=UTC)))
    now = event.time.timestamp() + offset_seconds
    processor = EventProcessor(EventMetrics(registry), clock=lambda: 0.0, wall_clock=lambda: now)
    value, headers = encode_structured(event)
    processor.process(Record("t", 0, 0, value, headers))
    consumed = registry.get_sample_value(
        "monitoring_events_consumed_total", {"topic": "t", "source": event.source, "type": event.type}
    )
    rejected = registry.get_sample_value(
        "monitoring_events_failed_total", {"topic": "t", "reason": "time_out_of_range"}
    )
    assert (consumed, rejected) == ((1.0, None) if counted else (None, 1.0))
    if counted:
        lag = registry.get_sample_value(
            "monitoring_event_lag_seconds_sum", {"source": event.source, "type": event.type}
        )
        assert lag == max(offset_seconds, 0.0)
