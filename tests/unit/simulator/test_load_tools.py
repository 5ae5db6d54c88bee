from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from monitoring.cloudevents import decode
from simulator.kafka_load import run_kafka_load
from simulator.kafka_sink import KafkaRecordSink
from simulator.loopback import NotLoopback, require_loopback_brokers, require_loopback_url
from simulator.report import GroundTruth
from simulator.webhook_load import alert_group, run_webhook_load
from tests.unit.simulator.fakes import FakeClock, MemorySink


def test_kafka_load_at_a_target_rate_stops_at_its_time_bound() -> None:
    clock = FakeClock()
    sink = MemorySink()
    result = run_kafka_load(sink, "t", rate=100, count=10_000, duration=2.0, clock=clock, sleep=clock.sleep)
    assert result.sent == len(sink.records) == 200
    assert result.rate == pytest.approx(100, rel=0.01)
    assert "records/s achieved" in result.summary()


def test_kafka_load_stops_at_its_count_bound_with_decodable_events_in_both_modes() -> None:
    clock = FakeClock()
    sink = MemorySink()
    result = run_kafka_load(sink, "t", rate=None, count=50, duration=60, clock=clock, sleep=clock.sleep)
    assert result.sent == 50
    events = [decode(r.value, r.headers) for r in sink.records]
    assert len({e.id for e in events}) == 50
    assert {any(k == "ce_id" for k, _ in r.headers) for r in sink.records} == {True, False}


def test_an_alert_group_is_an_alertmanager_v4_webhook_with_group_size_alerts() -> None:
    body = alert_group(random.Random(1), 0, 10, datetime(2026, 1, 1, tzinfo=UTC))  # noqa: S311
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert len(body["alerts"]) == 10
    assert len({a["fingerprint"] for a in body["alerts"]}) == 10
    for alert in body["alerts"]:
        assert body["groupLabels"].items() <= alert["labels"].items()
        assert body["commonLabels"].items() <= alert["labels"].items()
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    resolved = alert_group(random.Random(1), 9, 3, datetime(2026, 1, 1, tzinfo=UTC))  # noqa: S311
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"}


@pytest.mark.parametrize("url", ["http://192.0.2.10:8080/webhook", "http://10.0.0.1/", "https://8.8.8.8/x", "nohost"])
def test_webhook_load_refuses_a_target_that_is_not_loopback(url: str) -> None:
    with pytest.raises(NotLoopback, match="loopback"):
        run_webhook_load(url, rate=1, count=1, duration=1)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/"])
def test_loopback_urls_are_accepted(url: str) -> None:
    require_loopback_url(url)


def test_kafka_producers_refuse_brokers_that_are_not_loopback() -> None:
    with pytest.raises(NotLoopback, match=r"192\.0\.2\.1"):
        KafkaRecordSink("127.0.0.1:9092,192.0.2.1:9092", GroundTruth())
    require_loopback_brokers("localhost:9092,127.0.0.1:9093")
