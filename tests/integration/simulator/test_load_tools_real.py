"""The load tools against real targets: Kafka, and a recording webhook receiver."""

from __future__ import annotations

from monitoring.cloudevents import decode
from simulator.kafka_load import run_kafka_load
from simulator.kafka_sink import KafkaRecordSink
from simulator.report import GroundTruth
from simulator.webhook_load import run_webhook_load
from tests.integration.simulator.readback import read_all
from tests.sinks import RecordingSink


def test_kafka_load_delivers_every_record_it_counts(kafka_brokers: str, kafka_topic: str) -> None:
    truth = GroundTruth()
    result = run_kafka_load(KafkaRecordSink(kafka_brokers, truth), kafka_topic, rate=None, count=2000, duration=30)
    assert result.sent == 2000
    assert result.undelivered == 0
    assert truth.delivery_failures == 0
    records = read_all(kafka_brokers, [kafka_topic], 2000)
    assert len(records) == 2000
    assert len({decode(r.value, r.headers).id for r in records}) == 2000


def test_webhook_load_posts_every_webhook_and_measures_each(sink: RecordingSink) -> None:
    result = run_webhook_load(sink.url + "/webhook", rate=200, count=60, duration=30, group_size=10, concurrency=4)
    assert result.sent == result.ok == len(sink.requests) == 60
    assert result.failed == 0
    assert len(result.latencies) == 60
    assert 0 < result.percentile(50) <= result.percentile(95) <= result.percentile(99)
    bodies = [r.json() for r in sink.requests]
    assert {b["version"] for b in bodies} == {"4"}
    assert {len(b["alerts"]) for b in bodies} == {10}
    assert all(r.headers["Content-Type"] == "application/json" and r.method == "POST" for r in sink.requests)


def test_webhook_load_counts_failures_the_receiver_answers(sink: RecordingSink) -> None:
    sink.status = 503
    result = run_webhook_load(sink.url, rate=100, count=10, duration=30)
    assert result.failed == 10
    assert result.statuses == {"503": 10}
