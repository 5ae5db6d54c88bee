"""Exact nearest-rank percentiles from histograms: against sorting every duration."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receiver.reports.percentiles import P50, P90, histograms, nearest_rank, spreads
from receiver.store.reports import DurationBucket, Metric, RankTarget


@pytest.mark.parametrize(
    ("count", "fraction", "rank"),
    [(1, P50, 1), (2, P50, 1), (3, P50, 2), (4, P50, 2), (1, P90, 1), (9, P90, 9), (10, P90, 9), (11, P90, 10)],
)
def test_the_nearest_rank_is_the_ceiling_of_the_fraction_of_the_count(
    count: int, fraction: tuple[int, int], rank: int
) -> None:
    assert nearest_rank(count, fraction) == rank == math.ceil(count * fraction[0] / fraction[1])


def bucketed(values: Mapping[str, Sequence[float]], width: float) -> list[DurationBucket]:
    """What the repository's first pass returns for these durations."""
    cells: dict[tuple[str, int], list[float]] = {}
    for group, durations in values.items():
        for d in durations:
            cells.setdefault((group, int(d // width)), []).append(d)
    return [DurationBucket(Metric.TIME_TO_ACK, g, b, len(v), min(v), max(v)) for (g, b), v in sorted(cells.items())]


def ranked_from(values: Mapping[str, Sequence[float]], width: float, asked: list[list[RankTarget]]):  # type: ignore[no-untyped-def]
    """A fake ``ReportSnapshot.ranked``: the durations at the ranks, recording what was asked."""

    def fetch(targets: Sequence[RankTarget]) -> dict[RankTarget, float]:
        asked.append(list(targets))
        out = {}
        for t in targets:
            pool = values[t.group] if t.group is not None else [d for v in values.values() for d in v]
            inside = sorted(d for d in pool if int(d // width) == t.bucket)
            out[t] = inside[t.rank - 1]
        return out

    return fetch


def direct(durations: Sequence[float]) -> tuple[int, float, float, float]:
    ordered = sorted(durations)
    n = len(ordered)
    return (n, ordered[nearest_rank(n, P50) - 1], ordered[nearest_rank(n, P90) - 1], ordered[-1])


@settings(max_examples=80, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["critical", "high", "low"]),
        st.lists(st.floats(min_value=0, max_value=5000, allow_nan=False), min_size=1, max_size=60),
        min_size=1,
    ),
    width=st.sampled_from([1.0, 10.0, 600.0]),
)
def test_spreads_from_histograms_equal_sorting_every_duration(values: dict[str, list[float]], width: float) -> None:
    asked: list[list[RankTarget]] = []
    found = spreads(histograms(bucketed(values, width), overall=True), ranked_from(values, width, asked))
    for group, durations in values.items():
        s = found[Metric.TIME_TO_ACK, group]
        assert (s.count, s.p50, s.p90, s.max) == direct(durations)
    everything = [d for v in values.values() for d in v]
    s = found[Metric.TIME_TO_ACK, None]
    assert (s.count, s.p50, s.p90, s.max) == direct(everything)
    assert len(asked) <= 1  # one fetch for every target at once


def test_a_bucket_of_equal_durations_needs_no_fetch() -> None:
    values = {"high": [60.0, 60.0, 60.0, 120.0]}

    def refuse(targets: Sequence[RankTarget]) -> dict[RankTarget, float]:
        raise AssertionError(f"fetched {targets}")

    s = spreads(histograms(bucketed(values, 10.0), overall=False), refuse)[Metric.TIME_TO_ACK, "high"]
    assert (s.count, s.p50, s.p90, s.max) == (4, 60.0, 120.0, 120.0)
