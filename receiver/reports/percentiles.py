"""Exact nearest-rank percentiles from duration histograms, with the values at the wanted ranks fetched.

The p-th percentile of n durations is the one at rank ceil(p·n) in ascending order (nearest rank:
always a duration that occurred). With n known per scope (a group, or all alerts) from the
histogram, each wanted rank falls in one bucket at a known position; when the bucket's shortest and
longest are equal that is the value, otherwise the repository numbers that bucket's durations
(``ReportSnapshot.ranked``). No I/O here: ``fetch`` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from receiver.store.reports import DurationBucket, Metric, RankTarget

# (numerator, denominator) of the reported percentiles: p50 and p90, in integer arithmetic
P50, P90 = (1, 2), (9, 10)
Scope = tuple[Metric, str | None]  # a metric in a group, or in all alerts (None)


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, nearest-rank p50 and p90, and the longest (None when none)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Bin:
    bucket: int
    count: int
    shortest: float
    longest: float


def nearest_rank(count: int, fraction: tuple[int, int]) -> int:
    """ceil(count · numerator / denominator), the 1-based rank of a percentile."""
    numerator, denominator = fraction
    return (count * numerator + denominator - 1) // denominator


def histograms(buckets: Iterable[DurationBucket], *, overall: bool) -> dict[Scope, list[Bin]]:
    """Bins per (metric, group) in ascending order, and per (metric, None) summed over the groups when
    ``overall`` (the groups partition the alerts)."""
    merged: dict[Scope, dict[int, Bin]] = {}
    for b in buckets:
        scopes: list[Scope] = [(b.metric, b.group)]
        if overall:
            scopes.append((b.metric, None))
        for scope in scopes:
            bins = merged.setdefault(scope, {})
            seen = bins.get(b.bucket)
            bins[b.bucket] = (
                Bin(b.bucket, b.count, b.shortest, b.longest)
                if seen is None
                else Bin(b.bucket, seen.count + b.count, min(seen.shortest, b.shortest), max(seen.longest, b.longest))
            )
    return {scope: [bins[k] for k in sorted(bins)] for scope, bins in merged.items()}


def _locate(bins: Sequence[Bin], rank: int) -> tuple[Bin, int]:
    """The bin holding the ``rank``-th duration and its rank within the bin."""
    before = 0
    for b in bins:
        if rank <= before + b.count:
            return b, rank - before
        before += b.count
    raise ValueError(f"rank {rank} beyond {before} durations")


def spreads(
    bins_by_scope: Mapping[Scope, Sequence[Bin]],
    fetch: Callable[[Sequence[RankTarget]], Mapping[RankTarget, float]],
) -> dict[Scope, Spread]:
    """Every scope's spread; the values a bin cannot tell come from one ``fetch`` of all their targets."""
    known: dict[tuple[Scope, int], float] = {}
    targets: dict[RankTarget, tuple[Scope, int]] = {}
    for scope, bins in bins_by_scope.items():
        count = sum(b.count for b in bins)
        for fraction in (P50, P90):
            rank = nearest_rank(count, fraction)
            b, within = _locate(bins, rank)
            if b.shortest == b.longest or within == 1 or within == b.count:
                known[scope, rank] = b.shortest if within == 1 or b.shortest == b.longest else b.longest
            else:
                targets[RankTarget(scope[0], scope[1], b.bucket, within)] = (scope, rank)
    if targets:
        fetched = fetch(list(targets))
        for target, key in targets.items():
            known[key] = fetched[target]
    result: dict[Scope, Spread] = {}
    for scope, bins in bins_by_scope.items():
        count = sum(b.count for b in bins)
        result[scope] = Spread(
            count,
            known[scope, nearest_rank(count, P50)],
            known[scope, nearest_rank(count, P90)],
            max(b.longest for b in bins),
        )
    return result
