"""The consistency worker's metrics on the exporter's ``/metrics``, never going back between workers.

The consistency consumer runs in a process of its own (exporter/consistency_process.py), with its
own registry, and reports its families every quarter second (exporter/metric_snapshot.py). Its
counters and histograms count from zero in each worker, and a worker ends with every leadership
term (and is started again if it exits unexpectedly). This collector serves them as one process
would have counted them: what ended workers counted plus what the running one has counted so far.
A gauge is the latest worker's latest value; a ``_created`` sample the first worker's.

The worker's loop errors, offset commits and retries have counters of the same names in the
exporter (its own consumer counts into them too): those are added to the exporter's counters, as
the increments between two reports, instead of being served twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.metric_snapshot import FamilyData, Report, take
from exporter.metrics import ConsistencyMetrics, EventMetrics

SampleKey = tuple[str, tuple[tuple[str, str], ...]]
Sample = tuple[str, dict[str, str], float]
ADDITIVE = frozenset({"counter", "histogram"})


def _key(name: str, labels: dict[str, str]) -> SampleKey:
    return name, tuple(sorted(labels.items()))


class ConsistencyReports(Collector):
    def __init__(self, events: EventMetrics) -> None:
        registry = CollectorRegistry()
        ConsistencyMetrics(registry)  # the families, as a worker reports them before its first record
        self._families = {family.name: family for family in take(registry).families}
        # What ended workers left, by family: sample key -> (name, labels, value); at first, a new registry's.
        self._ended: dict[str, dict[SampleKey, Sample]] = {
            family.name: {_key(s.name, s.labels): (s.name, s.labels, s.value) for s in family.samples}
            for family in self._families.values()
        }
        self._current: dict[str, FamilyData] = {}  # the running worker's latest report
        self._shared: dict[str, Counter] = {
            "monitoring_loop_errors": events.loop_errors,
            "monitoring_offset_commits": events.commits,
            "monitoring_event_retries": events.retries,
        }
        self._shared_totals: dict[SampleKey, float] = {}  # the running worker's, as last reported
        self._lock = threading.Lock()

    def receive(self, report: Report) -> None:
        """The running worker's latest report."""
        current = {family.name: family for family in report.families if family.name in self._families}
        increments: list[tuple[Counter, dict[str, str], float]] = []
        for family in report.families:
            counter = self._shared.get(family.name)
            if counter is None:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = _key(sample.name, sample.labels)
                    increment = sample.value - self._shared_totals.get(key, 0.0)
                    self._shared_totals[key] = sample.value
                    if increment > 0:
                        increments.append((counter, sample.labels, increment))
        with self._lock:
            self._current = current
        for counter, labels, increment in increments:
            counter.labels(**labels).inc(increment)

    def worker_ended(self) -> None:
        """The running worker exited: what it counted stays, the next one starts from zero."""
        with self._lock:
            self._ended = {name: self._merged(family) for name, family in self._families.items()}
            self._current = {}
        self._shared_totals = {}

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            served = [(family, self._merged(family)) for family in self._families.values()]
        for family, samples in served:
            metric = Metric(family.name, family.documentation, family.type, family.unit)
            for name, labels, value in samples.values():
                metric.add_sample(name, labels, value)
            yield metric

    def _merged(self, family: FamilyData) -> dict[SampleKey, Sample]:
        """``family`` as served now: the ended workers' samples combined with the running one's."""
        merged = dict(self._ended[family.name])
        current = self._current.get(family.name)
        for sample in current.samples if current is not None else ():
            key = _key(sample.name, sample.labels)
            ended = merged.get(key)
            if ended is None or family.type not in ADDITIVE:
                merged[key] = (sample.name, sample.labels, sample.value)
            elif not sample.name.endswith("_created"):  # a creation time is the first worker's
                merged[key] = (sample.name, sample.labels, ended[2] + sample.value)
        return merged
