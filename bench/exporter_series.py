"""Prometheus series one exporter exposes, as a function of EXPORTER_LABEL_LIMIT.

The exporter's own event path (``EventProcessor`` with the event and business metrics on a
fresh registry, as ``monitoring exporter`` builds it) is fed the platform's events (every type
from all three services, on their three topics), then the same events re-sent with a
``source`` a misbehaving producer invents (1,000 distinct values). The series are counted on
the registry (every sample of every family, as ``/metrics`` renders them) for label limits 5,
20 (the default) and 50; the baseline is the same registry fed honest producers only. The
difference per admitted value is the per-unit figure of the capacity model. A real
``monitoring exporter`` process adds its process, Kafka-status and consistency series: its
``/metrics`` after 20,000 platform events from Kafka is counted too.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from prometheus_client import CollectorRegistry

from bench.receiver import fresh_database
from bench.report import RESULTS, Result, render, write
from bench.rounds import Figures
from bench.scale_out import consumed, fill
from exporter.dedup import SeenIds
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.records import Record
from monitoring.catalogue import TOPIC_OF_SOURCE
from monitoring.cloudevents import CloudEvent, encode_structured
from simulator.platform import PlatformModel
from tests.e2e.exporter.scale_out import six_partition_topic
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import scrape
from tests.services import kafka_brokers

LIMITS = (5, 20, 50)
PROCESS_EVENTS = 20_000
ROGUE_SOURCES = 1_000


def series(registry: CollectorRegistry) -> int:
    return sum(len(family.samples) for family in registry.collect())


def feed(label_limit: int, rogue: int) -> int:
    registry = CollectorRegistry()
    processor = EventProcessor(
        EventMetrics(registry),
        time.perf_counter,
        business=BusinessMetrics(registry),
        seen=SeenIds(100_000),
        wall_clock=time.time,
        label_limit=label_limit,
    )
    events: list[CloudEvent] = list(PlatformModel(seed=5).events(3_000, datetime.now(UTC)))
    offset = 0

    def send(event: CloudEvent, topic: str) -> None:
        nonlocal offset
        value, headers = encode_structured(event)
        processor.process(Record(topic, 0, offset, value, list(headers)))
        offset += 1

    for event in events:
        send(event, TOPIC_OF_SOURCE[event.source])
    for i in range(rogue):
        event = events[i % len(events)]
        send(msgspec.structs.replace(event, id=f"rogue-{i}", source=f"rogue-{i}"), TOPIC_OF_SOURCE[event.source])
    return series(registry)


def process_series(count: int) -> int:
    """Series on a real ``monitoring exporter``'s /metrics (consistency on, PostgreSQL for its lock,
    its own group's lag on six partitions, no queries) after it consumed ``count`` platform events."""
    brokers = kafka_brokers()
    with (
        tempfile.TemporaryDirectory(prefix="bench-series-") as workdir,
        fresh_database() as uri,
        six_partition_topic(brokers) as topic,
    ):
        fill(brokers, topic, count)
        group = f"bench-{topic.name}"
        env = {
            "KAFKA_BROKERS": brokers,
            "EXPORTER_TOPICS": topic.name,
            "EXPORTER_GROUP_ID": group,
            # Its own group only: unset, the lag monitor reports every group of the (shared) broker.
            "EXPORTER_LAG_GROUPS": group,
            "POSTGRES_URI": uri,
            "LOG_LEVEL": "warning",
        }
        process = ExporterProcess("exporter-series", Path(workdir), env)
        try:
            deadline = time.monotonic() + 120
            while consumed(process) < count and time.monotonic() < deadline:
                time.sleep(0.5)
            return len(scrape(process.metrics_url))
        finally:
            process.stop()


def run() -> list[Result]:
    honest = feed(20, 0)
    out = [
        Result(
            f"series on a monitoring exporter process's /metrics after {PROCESS_EVENTS:,} platform events",
            Figures.once(process_series(PROCESS_EVENTS)),
            "series",
            "event and business families alone, honest producers",
            Figures.once(honest),
        )
    ]
    previous: tuple[int, int] | None = None
    for limit in LIMITS:
        flooded = feed(limit, ROGUE_SOURCES)
        slope = f"{(flooded - previous[1]) / (limit - previous[0]):.0f}" if previous else "-"
        previous = (limit, flooded)
        out.append(
            Result(
                f"exporter series, EXPORTER_LABEL_LIMIT={limit}, {ROGUE_SOURCES:,} invented sources",
                Figures.once(flooded),
                "series",
                "honest producers only",
                Figures.once(honest),
                f"{slope} series per admitted value since the previous limit",
            )
        )
    return out


if __name__ == "__main__":
    measured = run()
    print(render(measured))
    print(f"\nwritten to {write(measured, RESULTS / 'exporter-series.json')}")
    sys.exit(0)
