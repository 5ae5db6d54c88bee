"""Exporter faults on the Kafka side: kill -9 under a steady load, and a broker outage."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from confluent_kafka import Consumer, KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource

from exporter.dead_letters import MAX_VALUE_BYTES, dead_letter_topic
from monitoring.cloudevents import DEFAULT_MAX_BYTES, CloudEvent
from tests.e2e.exporter.test_exporter_instances import committed, exporter_env
from tests.e2e.reliability.conftest import Figures, Scale, firing
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import (
    Samples,
    Topics,
    create_topics,
    platform_events,
    produce,
    scrape,
    total,
    value,
    wait_for,
)
from tests.private_services import PrivateKafka

RATE = 400  # events per second of steady load; the benchmarked exporter rate is ~90,000/s
PROCESSED = (
    "monitoring_events_consumed_total",
    "monitoring_events_failed_total",
    "monitoring_events_duplicate_total",
    "monitoring_events_unknown_type_total",
)


def processed(samples: Samples) -> float:
    """Records the exporter has handled: counted, dead-lettered, skipped as duplicates or unknown."""
    return sum(total(samples, name) for name in PROCESSED)


class SteadyLoad:
    """Platform events at ``RATE`` per second, plus one oversized poison record on request."""

    def __init__(self, brokers: str, topics: Topics) -> None:
        self.brokers, self.topics = brokers, topics
        self.events: Iterator[CloudEvent] = platform_events(seed=81, steps=10**6, start=datetime.now(UTC))
        self.sent = 0
        self.oversized_offsets: list[tuple[int, int]] = []  # (partition, offset)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load")
        self._big = Producer({"bootstrap.servers": brokers, "message.max.bytes": 4 * 1024 * 1024})
        self.poison_topic = topics.by_source["transaction-service"]
        admin = AdminClient({"bootstrap.servers": brokers})
        entry = ConfigEntry("max.message.bytes", str(4 * 1024 * 1024), incremental_operation=AlterConfigOpType.SET)
        resource = ConfigResource("topic", self.poison_topic, incremental_configs=[entry])
        for future in admin.incremental_alter_configs([resource]).values():
            future.result(30)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.brokers, "linger.ms": 5, "enable.idempotence": True})
        slice_size, started = RATE // 10, time.monotonic()
        while not self._stop.is_set():
            batch = [next(self.events) for _ in range(slice_size)]
            self.sent += produce(self.brokers, self.topics, batch, producer)
            pause = started + self.sent / RATE - time.monotonic()
            if pause > 0:
                self._stop.wait(pause)

    def poison(self) -> None:
        """An envelope over the decoder's 1 MiB limit: it must be dead-lettered, cut to 256 KiB."""
        envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "transaction-service",
                    "type": "TransactionInitiated", "padding": "x" * (DEFAULT_MAX_BYTES + 1024)}  # fmt: skip
        delivered: list[tuple[int, int]] = []

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                delivered.append((msg.partition() or 0, msg.offset() or 0))

        self._big.produce(
            self.poison_topic,
            value=json.dumps(envelope).encode(),
            key=b"poison",
            headers=[("content-type", b"application/cloudevents+json")],
            on_delivery=on_delivery,
        )
        assert self._big.flush(30) == 0
        assert len(delivered) == 1, "the broker refused the oversized record"
        self.oversized_offsets.extend(delivered)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        return self.sent + len(self.oversized_offsets)


def dead_letters(brokers: str, topic: str, origins: set[tuple[int, int]]) -> list[tuple[dict[str, bytes], int]]:
    """Dead letters of ``topic`` until every origin (partition, offset) is seen; repeats included."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": f"dlq-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([dead_letter_topic(topic)])
    received: list[tuple[dict[str, bytes], int]] = []
    seen: set[tuple[int, int]] = set()
    deadline = time.monotonic() + 30
    while not origins <= seen and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            headers = dict(cast(list[tuple[str, bytes]], message.headers() or []))
            received.append((headers, len(message.value() or b"")))
            seen.add((int(headers["dlq-origin-partition"]), int(headers["dlq-origin-offset"])))
    consumer.close()
    return received


def test_an_exporter_killed_mid_stream_again_and_again_loses_nothing_and_dead_letters_oversized_records(
    kafka_brokers: str, platform_topics: Topics, log_dir: Path, scale: Scale, figures: Figures
) -> None:
    """Exporter kill -9 mid-stream during a steady event load, with oversized poison records.

    No event lost: the committed offsets reach the end and the last instance counts exactly
    what follows them; every oversized record is dead-lettered once, cut to 256 KiB and marked;
    re-counted events per kill are measured (the uncommitted window, 1 s commit interval).
    """
    group = f"reliability-kill-{uuid.uuid4().hex[:8]}"
    env = exporter_env(kafka_brokers, platform_topics, group, EXPORTER_CONSISTENCY="off")
    load = SteadyLoad(kafka_brokers, platform_topics)
    load.start()
    recounts: list[float] = []
    try:
        for cycle in range(scale.kill_cycles):
            start = committed(kafka_brokers, group, platform_topics)
            exporter = ExporterProcess(f"exporter-{cycle}", log_dir, env)
            load.poison()
            # Kill after at least one periodic commit of this instance: a real uncommitted window.
            mark = start + RATE // 2
            assert wait_for(lambda: committed(kafka_brokers, group, platform_topics) > mark, 30)  # noqa: B023
            time.sleep((cycle + 0.5) / scale.kill_cycles)  # kills spread over the 1 s commit interval
            before_kill = processed(scrape(exporter.metrics_url))
            exporter.kill()
            exporter.stop()  # closes its log; the process is already gone
            recounts.append(max(before_kill - (committed(kafka_brokers, group, platform_topics) - start), 0))
    finally:
        produced = load.stop()
    at_restart = committed(kafka_brokers, group, platform_topics)
    last = ExporterProcess("exporter-last", log_dir, env)
    try:
        assert wait_for(lambda: processed(scrape(last.metrics_url)) >= produced - at_restart, 60)
        counted = processed(scrape(last.metrics_url))
    finally:
        last.stop()  # SIGTERM: commits what it processed
    assert counted == produced - at_restart, "the last instance must count exactly what follows the commits"
    assert committed(kafka_brokers, group, platform_topics) == produced
    letters = dead_letters(kafka_brokers, load.poison_topic, set(load.oversized_offsets))
    origins = {(int(h["dlq-origin-partition"]), int(h["dlq-origin-offset"])) for h, _ in letters}
    assert origins == set(load.oversized_offsets)
    assert all(h["dlq-reason"] == b"oversized" and int(h["dlq-truncated-from"]) > DEFAULT_MAX_BYTES for h, _ in letters)
    assert all(size <= MAX_VALUE_BYTES for _, size in letters)
    figures.record(
        kills=scale.kill_cycles,
        records_produced=produced,
        steady_rate_per_s=RATE,
        lost=produced - committed(kafka_brokers, group, platform_topics),
        recounted_per_kill_max=int(max(recounts)),
        recounted_total=int(sum(recounts)),
        uncommitted_window_bound=f"1 s commit interval = {RATE} records at this rate",
        oversized_dead_lettered=f"{len(origins)}/{len(load.oversized_offsets)}",
        dead_letters_repeated_after_a_kill=len(letters) - len(origins),
    )


def test_a_kafka_outage_keeps_the_exporter_serving_fires_an_alert_and_resumes_from_committed_offsets(
    private_kafka: PrivateKafka,
    log_dir: Path,
    scale: Scale,
    figures: Figures,
    prometheus_for: Callable[[int], str],
) -> None:
    """Kafka broker stopped while the exporter consumes.

    The exporter stays up, /metrics answers every scrape, /readyz is 503, monitoring_kafka_up is 0
    and ExporterKafkaDown fires in Prometheus (shipped rules); after the restart it resumes from
    its committed offsets: every event counted once, none lost.
    """
    brokers = private_kafka.brokers
    topics = create_topics(brokers)
    group = f"reliability-outage-{uuid.uuid4().hex[:8]}"
    exporter = ExporterProcess("exporter-outage", log_dir, exporter_env(brokers, topics, group))
    events = platform_events(seed=82, steps=10**6, start=datetime.now(UTC))
    before = produce(brokers, topics, [next(events) for _ in range(2000)])
    try:
        prometheus = prometheus_for(exporter.port)
        assert wait_for(lambda: processed(scrape(exporter.metrics_url)) == before, 60)
        assert wait_for(lambda: committed(brokers, group, topics) == before, 30)
        private_kafka.stop()
        down_at = time.monotonic()
        answered = tried = 0
        seen = {"ready_503": False, "kafka_up_0": False, "alert": False}
        alert_after = None
        while time.monotonic() - down_at < scale.outage_seconds or alert_after is None:
            assert time.monotonic() - down_at < scale.outage_seconds + 90, f"outage checks incomplete: {seen}"
            assert exporter.proc.poll() is None, exporter.log_tail()
            tried += 1
            if exporter.status("/metrics") == 200:
                answered += 1
            seen["ready_503"] |= exporter.status("/readyz") == 503
            seen["kafka_up_0"] |= value(scrape(exporter.metrics_url), "monitoring_kafka_up") == 0
            if alert_after is None and firing(prometheus, "ExporterKafkaDown"):
                alert_after = time.monotonic() - down_at
            time.sleep(0.5)
        outage = time.monotonic() - down_at
        assert seen["ready_503"], seen
        assert seen["kafka_up_0"], seen
        assert answered == tried
        private_kafka.start()
        back_at = time.monotonic()
        after = produce(brokers, topics, [next(events) for _ in range(2000)])
        assert wait_for(lambda: committed(brokers, group, topics) == before + after, 90)
        resumed_after = time.monotonic() - back_at
        assert wait_for(lambda: exporter.status("/readyz") == 200, 60)
        assert wait_for(lambda: value(scrape(exporter.metrics_url), "monitoring_kafka_up") == 1, 30)
        ready_after = time.monotonic() - back_at
        counted = processed(scrape(exporter.metrics_url))
    finally:
        exporter.stop()
    assert counted == before + after  # one process throughout: nothing lost, nothing counted twice
    figures.record(
        outage_seconds=round(outage, 1),
        metrics_scrapes_answered=f"{answered}/{tried}",
        readiness_false=seen["ready_503"],
        kafka_up_zero=seen["kafka_up_0"],
        alert_fired_after_s=round(alert_after, 1),
        caught_up_after_restart_s=round(resumed_after, 1),
        ready_after_restart_s=round(ready_after, 1),
        events=before + after,
        lost=before + after - counted,
        counted_twice=0 if counted == before + after else counted - before - after,
    )


def test_an_exporter_that_stops_being_scraped_fires_the_metric_collection_stalled_alert(
    log_dir: Path, figures: Figures, prometheus_for: Callable[[int], str]
) -> None:
    """Metric collection stopped: the exporter killed while Prometheus scrapes it.

    MetricCollectionStalled (shipped rules, for: 15s) is inactive while scrapes succeed and fires
    once the exporter is gone; it resolves when a new exporter answers on the same port.
    """
    env = {"EXPORTER_INPROCESS_RATE": "50", "EXPORTER_CONSISTENCY": "off"}
    exporter = ExporterProcess("exporter-scraped", log_dir, env)
    prometheus = prometheus_for(exporter.port)
    try:
        assert wait_for(lambda: up(prometheus) == 1, 30)
        assert not firing(prometheus, "MetricCollectionStalled")
        exporter.kill()
        killed_at = time.monotonic()
        assert wait_for(lambda: firing(prometheus, "MetricCollectionStalled"), 60)
        fired_after = time.monotonic() - killed_at
        exporter.stop()
        exporter = ExporterProcess("exporter-back", log_dir, {**env, "EXPORTER_PORT": str(exporter.port)})
        back_at = time.monotonic()
        assert wait_for(lambda: not firing(prometheus, "MetricCollectionStalled"), 60)
        resolved_after = time.monotonic() - back_at
    finally:
        exporter.stop()
    figures.record(alert_fired_after_s=round(fired_after, 1), rule_for_s=15, resolved_after_s=round(resolved_after, 1))


def up(prometheus_url: str) -> float:
    query = urllib.parse.urlencode({"query": 'up{job="exporter"}'})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{query}", timeout=5) as response:  # noqa: S310
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else -1.0
