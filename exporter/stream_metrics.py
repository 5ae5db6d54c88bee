"""Counters and histograms for the per-event hot path, written by one thread and read at scrape time.

prometheus_client's Counter and Histogram take a lock on every update and walk the bucket
list in Python; at tens of thousands of events per second and four or five updates per
event that is most of the exporter's CPU. These keep plain floats and integer lists per
label child: the consume loop is the only writer, a scrape reads a snapshot under the GIL.
A histogram's buckets and count always come from one snapshot of its bucket list, so they
agree; its ``_sum`` may include one observation more or less than its ``_count``.

A histogram keeps, per bucket, the latest observation made with ``observe_with_exemplar``
(the trace and span of a traced event): the OpenMetrics exposition shows it as the bucket's
exemplar, the Prometheus text format leaves it out.

Use them only for metrics updated by exactly one thread; everything else uses
prometheus_client's own types.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from prometheus_client import CollectorRegistry, utils
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar, Sample

# The bucket label format prometheus_client uses ("0.1", "1.0", "+Inf"); untyped upstream.
float_to_go_string = cast(Callable[[float], str], utils.floatToGoString)


class CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount


class HistogramChild:
    __slots__ = ("_bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0
        self.exemplars: list[Exemplar | None] | None = None  # the latest per bucket, once there is one

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.sum += amount

    def observe_with_exemplar(self, amount: float, trace_id: str, span_id: str) -> None:
        """``observe``, and make this observation its bucket's exemplar (OpenMetrics exposition only)."""
        index = bisect_left(self._bounds, amount)
        self.counts[index] += 1
        self.sum += amount
        if self.exemplars is None:
            self.exemplars = [None] * len(self.counts)
        self.exemplars[index] = Exemplar({"trace_id": trace_id, "span_id": span_id}, amount, time.time())


class StreamCounter(Collector):
    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: CollectorRegistry
    ) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], CounterChild] = {}
        if not self._labelnames:
            self._children[()] = CounterChild()
        registry.register(self)

    def labels(self, *values: str) -> CounterChild:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name}: expected labels {self._labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = CounterChild()
        return child

    def inc(self, amount: float = 1.0) -> None:
        self._children[()].inc(amount)

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for values, child in list(self._children.items()):
            family.add_metric(list(values), child.value)
        yield family


class StreamHistogram(Collector):
    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._bounds = tuple(sorted(float(b) for b in buckets if not math.isinf(b)))
        self._children: dict[tuple[str, ...], HistogramChild] = {}
        if not self._labelnames:
            self._children[()] = HistogramChild(self._bounds)
        registry.register(self)

    def labels(self, *values: str) -> HistogramChild:
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name}: expected labels {self._labelnames}, got {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = HistogramChild(self._bounds)
        return child

    def observe(self, amount: float) -> None:
        self._children[()].observe(amount)

    def collect(self) -> Iterable[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        names = [float_to_go_string(b) for b in self._bounds] + ["+Inf"]
        for values, child in list(self._children.items()):
            counts, total = list(child.counts), child.sum
            exemplars = list(child.exemplars) if child.exemplars is not None else [None] * len(counts)
            cumulative: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
            running = 0
            for name, count, exemplar in zip(names, counts, exemplars, strict=True):
                running += count
                cumulative.append((name, float(running)) if exemplar is None else (name, float(running), exemplar))
            family.add_metric(list(values), cumulative, total)
            if self._bounds and self._bounds[0] < 0:
                # With a negative bucket, add_metric leaves out _count and _sum (a sum that can fall is
                # not a counter); prometheus_client's own Histogram keeps _count, and so do we.
                labels = dict(zip(self._labelnames, values, strict=True))
                family.samples.append(Sample(f"{self._name}_count", labels, float(running)))
        yield family
