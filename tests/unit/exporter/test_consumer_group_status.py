"""Burrow's sliding-window rules and offset-to-time interpolation, on plain samples."""

from __future__ import annotations

import pytest

from exporter.consumer_groups import EndOffsetHistory, Sample, evaluate, worst


def window(*pairs: tuple[int, int]) -> list[Sample]:
    return [Sample(float(i), committed, end) for i, (committed, end) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("samples", "members", "status"),
    [
        (window((10, 10), (20, 20), (30, 30)), True, "ok"),
        (window((10, 12), (20, 23), (30, 31)), True, "ok"),
        (window((10, 12), (12, 16), (14, 20)), True, "warn"),
        (window((10, 12), (10, 16), (10, 20)), True, "stall"),
        (window((10, 12), (10, 16)), True, "ok"),  # a window not yet full cannot stall or warn
        (window((10, 12), (10, 16), (10, 20)), False, "stop"),
        (window((10, 10), (10, 10), (10, 10)), False, "ok"),  # caught up and gone is fine
        (window((10, 12), (4, 16), (8, 20)), True, "rewind"),
        ([], True, "ok"),
    ],
)
def test_partition_status_follows_burrows_rules(samples: list[Sample], members: bool, status: str) -> None:
    assert evaluate(samples, 3, members) == status


def test_a_group_takes_the_worst_status_of_its_partitions() -> None:
    assert worst(["ok", "warn", "ok"]) == "warn"
    assert worst(["warn", "stop", "stall"]) == "stop"
    assert worst([]) == "ok"


def test_an_offset_is_dated_by_interpolating_the_end_offset_history() -> None:
    history = EndOffsetHistory()
    history.add(100.0, 0)
    history.add(110.0, 100)
    history.add(120.0, 100)  # unchanged end: the first sighting is kept
    history.add(130.0, 300)
    assert history.time_of(49) == pytest.approx(105.0)
    assert history.time_of(199) == pytest.approx(120.0)
    assert history.time_of(300) is None  # not produced yet
    assert history.time_of(-5) == 100.0  # older than the history: its start is a lower bound
