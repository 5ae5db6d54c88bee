"""Bounded memory and bounded label values."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from prometheus_client import CollectorRegistry

from exporter.cardinality import OTHER, BoundedLabel
from exporter.dedup import SeenIds
from exporter.metrics import EventMetrics
from exporter.processor import EventProcessor
from exporter.records import Record
from monitoring.cloudevents import encode_structured
from simulator.platform import PlatformModel


def test_allowed_values_pass_and_unknown_ones_are_admitted_up_to_the_limit_then_become_other() -> None:
    label = BoundedLabel(["asset-service"], limit=2)
    assert [label(v) for v in ("asset-service", "x", "y", "z", "x", "asset-service")] == [
        "asset-service",
        "x",
        "y",
        OTHER,
        "x",
        "asset-service",
    ]


def test_seen_ids_remember_only_the_most_recent_capacity() -> None:
    seen = SeenIds(capacity=3)
    assert [seen.add(i) for i in ("a", "b", "a", "c", "d")] == [True, True, False, True, True]
    assert len(seen) == 3
    assert seen.add("a") is True  # evicted as the oldest, so a late redelivery counts again


def test_a_producer_inventing_sources_adds_no_cached_series_per_source() -> None:
    processor = EventProcessor(EventMetrics(CollectorRegistry()), clock=lambda: 0.0, label_limit=3)
    good = next(PlatformModel(seed=1).events(1, datetime(2026, 1, 1, tzinfo=UTC)))
    for i in range(1000):
        value, headers = encode_structured(msgspec.structs.replace(good, id=f"e{i}", source=f"rogue-{i}"))
        processor.process(Record("t", 0, i, value, headers))
    # The hot path's cache of label children: the three admitted sources and "other", not 1000 entries.
    assert sorted(source for _, source, _ in processor._series) == ["other", "rogue-0", "rogue-1", "rogue-2"]
