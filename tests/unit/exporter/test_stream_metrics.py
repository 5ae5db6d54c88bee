"""The single-writer stream metrics expose exactly what prometheus_client's own types expose."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from exporter.stream_metrics import StreamCounter, StreamHistogram


def exposition(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if "_created" not in line and not line.startswith("#")
    ]


@pytest.mark.parametrize("buckets", [(0.1, 0.5, 1.0, 5.0), (-0.1, -0.01, 0.0, 0.01, 0.1)])
def test_a_stream_histogram_renders_like_a_prometheus_client_histogram(buckets: tuple[float, ...]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = StreamHistogram("h_seconds", "h", ["k"], buckets=buckets, registry=ours)
    reference = Histogram("h_seconds", "h", ["k"], buckets=buckets, registry=theirs)
    rng = random.Random(4)  # noqa: S311 - reproducible test values
    values = [rng.uniform(-0.2, 6) for _ in range(500)] + list(buckets)  # include values exactly on bounds
    for i, v in enumerate(values):
        fast.labels(str(i % 3)).observe(v)
        reference.labels(str(i % 3)).observe(v)
    assert exposition(ours) == exposition(theirs)


def test_a_stream_counter_renders_like_a_prometheus_client_counter() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = StreamCounter("events_total", "e", ["t"], registry=ours)
    reference = Counter("events_total", "e", ["t"], registry=theirs)
    for i in range(100):
        fast.labels(str(i % 4)).inc(i)
        reference.labels(str(i % 4)).inc(i)
    assert exposition(ours) == exposition(theirs)
    with pytest.raises(ValueError, match="only go up"):
        fast.labels("0").inc(-1)
