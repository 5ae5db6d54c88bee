"""Consumer-group lag of the platform's consumers, judged the way Burrow does it.

A sampler thread reads, every ``interval`` seconds through the admin API, each group's
committed offsets, its membership and the partitions' end offsets. It keeps a sliding
window of the last ``window`` samples per partition and a history of end offsets per
partition for offset-to-time interpolation. ``collect()`` builds the metric families
from the latest samples when Prometheus scrapes; no Kafka call happens during a scrape.

Burrow's rules, adapted to what the admin API shows (commit times are not visible, group
membership is):

- ``rewind``: a committed offset went backwards inside the window;
- ``ok``: the latest lag is zero;
- ``stop``: lag and no active member (the consumers are gone);
- ``stall``: lag, members, a full window and the committed offset never moved;
- ``warn``: a full window over which lag never fell and grew overall;
- ``ok`` otherwise. A group's status is the worst status of its partitions.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import structlog
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # re-exported by confluent_kafka.admin, untyped there
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.kafka_status import KafkaStatus

log = structlog.get_logger(__name__)

STATUSES = ("ok", "warn", "stall", "stop", "rewind")
_LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_SEVERITY = {"ok": 0, "warn": 1, "rewind": 2, "stall": 3, "stop": 4}


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


def evaluate(window: Sequence[Sample], window_size: int, has_members: bool) -> str:
    """Burrow-style status of one partition from its sliding window of samples."""
    if not window:
        return "ok"
    if any(b.committed < a.committed for a, b in pairwise(window)):
        return "rewind"
    last = window[-1]
    if last.lag == 0:
        return "ok"
    if not has_members:
        return "stop"
    if len(window) >= window_size:
        first = window[0]
        if all(s.committed == first.committed for s in window):
            return "stall"
        if all(b.lag >= a.lag for a, b in pairwise(window)) and last.lag > first.lag:
            return "warn"
    return "ok"


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=_SEVERITY.__getitem__, default="ok")


class EndOffsetHistory:
    """When each partition's end offset was seen, to turn an offset into an estimated produce time."""

    def __init__(self, size: int = 360) -> None:
        self._times: deque[float] = deque(maxlen=size)
        self._ends: deque[int] = deque(maxlen=size)

    def add(self, at: float, end: int) -> None:
        if self._ends and end == self._ends[-1]:
            return  # keep the first time an end offset was seen
        self._times.append(at)
        self._ends.append(end)

    def time_of(self, offset: int) -> float | None:
        """Estimated time at which ``offset`` was produced (the end offset passed it); None if not yet."""
        ends = list(self._ends)
        i = bisect.bisect_right(ends, offset)  # first sample whose end > offset
        if i == len(ends):
            return None
        if i == 0:
            return self._times[0]  # older than the history: a lower bound of the lag
        e0, e1 = ends[i - 1], ends[i]
        t0, t1 = self._times[i - 1], self._times[i]
        return t0 + (offset - e0 + 1) / (e1 - e0) * (t1 - t0)


@dataclass(frozen=True)
class _GroupView:
    lag: dict[tuple[str, int], int]
    lag_seconds: dict[tuple[str, int], float]
    status: str


class ConsumerGroupMonitor(Collector):
    def __init__(
        self,
        admin: AdminClient,
        kafka: KafkaStatus,
        *,
        groups: Sequence[str] = (),
        window: int = 10,
        interval: float = 10.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[], None] = lambda: None,
        reconnect: Callable[[], AdminClient] | None = None,
    ) -> None:
        self._on_error = on_error
        self._admin = admin
        # librdkafka's admin client can stay stuck after a broker restart (describe requests
        # time out for ever while a fresh client answers at once): rebuild it after a failure.
        self._reconnect = reconnect
        self._kafka = kafka
        self._groups = tuple(groups)
        self._window_size = window
        self._interval = interval
        self._timeout = timeout
        self._clock = clock
        self._windows: dict[tuple[str, str, int], deque[Sample]] = {}
        self._ends: dict[tuple[str, int], EndOffsetHistory] = {}
        self._views: dict[str, _GroupView] = {}
        self._up = 0
        self._duration = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consumer-groups", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sample()
            except Exception:  # the loop's edge: report, mark down, sample again next interval
                log.exception("consumer_group_sample_error")
                self._on_error()
                self._up = 0
            self._stopping.wait(self._interval)

    def sample(self) -> None:
        """One round of admin API reads; updates the windows and the views served by ``collect``."""
        started = time.perf_counter()
        try:
            views = self._read()
        except (KafkaException, TimeoutError) as exc:
            log.warning("consumer_groups_unreadable", error=str(exc.args[0]) if exc.args else "timed out")
            self._up = 0
            self._kafka.mark(False)
            if self._reconnect is not None:
                self._admin = self._reconnect()
        else:
            self._views = views
            self._up = 1
            self._kafka.mark(True)
        finally:
            self._duration = time.perf_counter() - started

    def _read(self) -> dict[str, _GroupView]:
        t = self._timeout
        groups = self._groups
        if not groups:
            listing = self._admin.list_consumer_groups(request_timeout=t).result(t)
            groups = tuple(sorted(g.group_id for g in listing.valid))
        if not groups:
            return {}
        descriptions = {g: f.result(t) for g, f in self._admin.describe_consumer_groups(list(groups)).items()}
        committed: dict[str, list[TopicPartition]] = {}
        for group in groups:
            request = [ConsumerGroupTopicPartitions(group)]
            for g, future in self._admin.list_consumer_group_offsets(request, request_timeout=t).items():
                committed[g] = [tp for tp in future.result(t).topic_partitions or [] if tp.offset >= 0]
        partitions = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
        ends: dict[tuple[str, int], int] = {}
        if partitions:
            request_ends = {TopicPartition(topic, p): _LATEST for topic, p in partitions}
            for tp, future in self._admin.list_offsets(request_ends, request_timeout=t).items():
                ends[(tp.topic, tp.partition)] = future.result(t).offset
        now = self._clock()
        for key, end in ends.items():
            self._ends.setdefault(key, EndOffsetHistory()).add(now, end)
        for gone in set(self._ends) - set(ends):  # no monitored group commits there any more (a deleted topic)
            del self._ends[gone]
        views: dict[str, _GroupView] = {}
        seen: set[tuple[str, str, int]] = set()
        for group in groups:
            has_members = bool(descriptions[group].members)
            lag: dict[tuple[str, int], int] = {}
            lag_seconds: dict[tuple[str, int], float] = {}
            statuses: list[str] = []
            for tp in committed.get(group, []):
                key = (tp.topic, tp.partition)
                if key not in ends:
                    continue
                sample = Sample(now, tp.offset, ends[key])
                window = self._windows.setdefault((group, *key), deque(maxlen=self._window_size))
                window.append(sample)
                seen.add((group, *key))
                lag[key] = sample.lag
                produced = self._ends[key].time_of(tp.offset) if sample.lag else None
                lag_seconds[key] = max(now - produced, 0.0) if produced is not None else 0.0
                statuses.append(evaluate(window, self._window_size, has_members))
            views[group] = _GroupView(lag, lag_seconds, worst(statuses))
        for stale in set(self._windows) - seen:
            del self._windows[stale]
        return views

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "Messages between a consumer group's committed offset and the partition's end offset.",
            labels=["group", "topic", "partition"],
        )
        lag_seconds = GaugeMetricFamily(
            "kafka_consumergroup_lag_seconds",
            "Estimated age of the oldest unconsumed message, interpolated from end-offset history.",
            labels=["group", "topic", "partition"],
        )
        status = GaugeMetricFamily(
            "kafka_consumergroup_status",
            "Burrow-style group status as a state set: 1 for the current status (ok, warn, stall, stop, rewind).",
            labels=["group", "status"],
        )
        for group, view in sorted(self._views.items()):
            for (topic, partition), value in sorted(view.lag.items()):
                lag.add_metric([group, topic, str(partition)], value)
                lag_seconds.add_metric([group, topic, str(partition)], view.lag_seconds[(topic, partition)])
            for name in STATUSES:
                status.add_metric([group, name], 1.0 if view.status == name else 0.0)
        yield lag
        yield lag_seconds
        yield status
        yield GaugeMetricFamily(
            "monitoring_consumer_groups_up",
            "1 when the last admin API read of consumer groups succeeded, else 0.",
            value=self._up,
        )
        yield GaugeMetricFamily(
            "monitoring_consumer_groups_scrape_duration_seconds",
            "Duration of the last admin API read of consumer groups.",
            value=self._duration,
        )
