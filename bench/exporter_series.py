"""Prometheus series one exporter exposes, as a function of EXPORTER_LABEL_LIMIT.

The exporter's own event path (``EventProcessor`` with the event and business metrics on a
fresh registry, as ``monitoring exporter`` builds it) is fed the platform's events (every type
from all three services, on their three topics), then the same events re-sent with a
``source`` a misbehaving producer invents (1,000 distinct values). The series are counted on
the registry (every sample of every family, as ``/metrics`` renders them) for label limits 5,
20 (the default) and 50; the baseline is the same registry fed honest producers only. The
difference per admitted value is the per-unit figure of the capacity model.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import msgspec
from prometheus_client import CollectorRegistry

from bench.report import Result, render
from exporter.dedup import SeenIds
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.records import Record
from monitoring.catalogue import TOPIC_OF_SOURCE
from monitoring.cloudevents import CloudEvent, encode_structured
from simulator.platform import PlatformModel

LIMITS = (5, 20, 50)
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


def run() -> list[Result]:
    honest = feed(20, 0)
    out = []
    previous: tuple[int, int] | None = None
    for limit in LIMITS:
        flooded = feed(limit, ROGUE_SOURCES)
        slope = f"{(flooded - previous[1]) / (limit - previous[0]):.0f}" if previous else "-"
        previous = (limit, flooded)
        out.append(
            Result(
                f"exporter series, EXPORTER_LABEL_LIMIT={limit}, {ROGUE_SOURCES:,} invented sources",
                flooded,
                "series",
                "honest producers only",
                honest,
                f"{slope} series per admitted value since the previous limit",
            )
        )
    return out


if __name__ == "__main__":
    print(render(run()))
    sys.exit(0)
