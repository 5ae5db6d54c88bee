"""Bounded memory and bounded label values."""

from __future__ import annotations

from exporter.cardinality import OTHER, BoundedLabel
from exporter.dedup import SeenIds


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
