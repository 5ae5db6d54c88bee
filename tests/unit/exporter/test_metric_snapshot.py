"""A worker's report carries its families to the exporter exactly as its registry exposes them."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter import metric_snapshot
from exporter.metric_snapshot import Report


class Served(Collector):
    def __init__(self, report: Report) -> None:
        self.report = report

    def collect(self) -> Iterable[Metric]:
        return metric_snapshot.metrics(self.report)


def test_a_report_written_and_read_back_renders_what_its_registry_renders() -> None:
    registry = CollectorRegistry()
    Counter("checks", "c", ["kind"], registry=registry).labels("gap").inc(3)
    Histogram("delay_seconds", "d", ["rule"], buckets=(0.1, 1.0), registry=registry).labels("r").observe(0.5)
    Gauge("pending", "p", registry=registry).set(math.inf)  # msgpack carries what JSON cannot
    stream = io.BytesIO()
    metric_snapshot.write(stream, metric_snapshot.take(registry))
    metric_snapshot.write(stream, metric_snapshot.take(registry))
    stream.seek(0)
    first, second = metric_snapshot.read(stream), metric_snapshot.read(stream)
    assert first is not None
    assert second == first
    assert metric_snapshot.read(stream) is None  # the end of the stream
    served = CollectorRegistry()
    served.register(Served(first))
    assert generate_latest(served) == generate_latest(registry)


def test_a_report_cut_short_reads_as_the_end_of_the_stream() -> None:
    registry = CollectorRegistry()
    Gauge("pending", "p", registry=registry).set(2)
    stream = io.BytesIO()
    metric_snapshot.write(stream, metric_snapshot.take(registry))
    assert metric_snapshot.read(io.BytesIO(stream.getvalue()[:-1])) is None
