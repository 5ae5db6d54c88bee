"""Tuned for batches, the garbage collector leaves the records in flight to reference counting."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from exporter.garbage_collection import OBJECTS_PER_RECORD, tune_for_batches

BATCH = 1000


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection that starts during the test; the collector restored after."""
    threshold = gc.get_threshold()
    started: list[int] = []

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(record)
    yield started
    gc.callbacks.remove(record)
    gc.set_threshold(*threshold)
    gc.unfreeze()


def two_batches_in_flight() -> int:
    """What the two consumers hold at once: per record a header list of tuples, as confluent-kafka builds."""
    batches = [[[(f"ce_{n}", b"value") for n in range(8)] for _ in range(BATCH)] for _ in range(2)]
    return sum(len(batch) for batch in batches)


@pytest.mark.parametrize(("tuned", "collected"), [(False, True), (True, False)], ids=["default", "tuned"])
def test_two_batches_in_flight_trigger_a_collection_only_with_the_default_threshold(
    collections: list[int], tuned: bool, collected: bool
) -> None:
    if tuned:
        tune_for_batches(BATCH)
    collections.clear()
    assert two_batches_in_flight() == 2 * BATCH
    assert bool(collections) is collected


def test_tuning_freezes_the_start_up_heap_and_raises_the_young_threshold(collections: list[int]) -> None:
    tune_for_batches(BATCH)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == OBJECTS_PER_RECORD * BATCH
