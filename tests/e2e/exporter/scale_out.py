"""Exporter processes joining and leaving one consumer group on a six-partition topic.

The scenario behind tests/e2e/exporter/test_scale_out.py (which asserts on it) and
bench/scale_out.py (which reports it): 1 → 2 → 3 → 2 → 1 exporter processes under a paced
event load, consistency checks on (PostgreSQL advisory lock), a private Prometheus scraping
every process every second, as operators would run it.

A process leaves only after the load is paused and Prometheus has scraped every event counted
so far, so Prometheus's ``sum()`` over the processes can be compared with what was produced
exactly: events a leaving process counted after its last scrape would be missing from
Prometheus (never doubled), which would hide a double count elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from exporter.leadership import AdvisoryLock
from tests import services
from tests.e2e.exporter.group_log import Ownership, moved, owners_at, read_ownership
from tests.e2e.exporter.test_exporter_instances import exporter_env, members_with_partitions
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import SERVICES, Topics, platform_events, produce, scrape, value, wait_for
from tests.processes import ServerProcess, start_prometheus

PARTITIONS = 6


@dataclass(frozen=True)
class SixPartitions:
    """One topic with six partitions carrying every platform event (keyed by aggregate id)."""

    name: str

    @property
    def topics(self) -> Topics:
        return Topics(dict.fromkeys(SERVICES, self.name))

    @property
    def partitions(self) -> set[str]:
        return {f"{self.name}:{p}" for p in range(PARTITIONS)}


@contextmanager
def six_partition_topic(brokers: str) -> Iterator[SixPartitions]:
    name = f"scale-out.{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": brokers})
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(30)
    try:
        yield SixPartitions(name)
    finally:
        existing = set(admin.list_topics(timeout=10).topics)
        doomed = [n for n in (name, f"{name}.dlq") if n in existing]
        for future in admin.delete_topics(doomed).values() if doomed else ():
            future.result(30)


def committed(brokers: str, group: str, topic: SixPartitions) -> int:
    """Offsets the group has committed, summed over the six partitions."""
    probe = Consumer({"bootstrap.servers": brokers, "group.id": group})
    try:
        partitions = [TopicPartition(topic.name, p) for p in range(PARTITIONS)]
        return sum(max(tp.offset, 0) for tp in probe.committed(partitions, timeout=10))
    finally:
        probe.close()


class PacedLoad:
    """Platform events at ``rate`` per second on one thread, which can be paused and resumed."""

    def __init__(self, brokers: str, topic: SixPartitions, rate: int) -> None:
        self.brokers, self.topic, self.rate = brokers, topic, rate
        self.sent = 0
        self._events = platform_events(seed=61, steps=10**6, start=datetime.now(UTC))
        self._running = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-load")

    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def _run(self) -> None:
        producer = Producer({"bootstrap.servers": self.brokers, "linger.ms": 5, "enable.idempotence": True})
        slice_size = max(self.rate // 10, 1)
        while not self._stop.is_set():
            if not self._running.is_set():
                self._idle.set()
                self._running.wait(0.1)
                continue
            self._idle.clear()
            started = time.monotonic()
            batch = [next(self._events) for _ in range(slice_size)]
            self.sent += produce(self.brokers, self.topic.topics, batch, producer)
            self._stop.wait(max(0.0, slice_size / self.rate - (time.monotonic() - started)))
        self._idle.set()

    def pause(self) -> None:
        """Stop producing; returns once the slice in flight is delivered."""
        self._running.clear()
        self._idle.wait(30)

    def resume(self) -> None:
        self._idle.clear()  # a pause right after this waits for the thread to be idle again
        self._running.set()

    def stop(self) -> int:
        self._stop.set()
        self._running.set()
        self._thread.join(60)
        return self.sent


def query(prometheus_url: str, promql: str) -> list[dict[str, object]]:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        document = json.load(response)
    result: list[dict[str, object]] = document["data"]["result"]
    return result


def scalar(prometheus_url: str, promql: str) -> float:
    """The single value of ``promql``, 0 when it has no series."""
    result = query(prometheus_url, promql)
    values = [r["value"] for r in result]
    return sum(float(str(v[1])) for v in values if isinstance(v, list))


def counted_in_prometheus(prometheus_url: str) -> float:
    """Every process's last scraped event count, summed: what ``sum()`` over the group's counters
    says once each process's final count is scraped (a process that left keeps its last value)."""
    return scalar(prometheus_url, 'sum(last_over_time(monitoring_events_consumed_total{job="exporter"}[1h]))')


@dataclass
class Step:
    """One change of the group's size: who joined or left, and what it moved."""

    label: str  # e.g. "2→3 (c joins)"
    process: str  # who joined or left
    joined: bool
    members: int
    rebalanced_s: float  # from the joiner answering /healthz, or the leaver's SIGTERM, to the new assignment
    moved: int = 0  # partitions whose owner changed
    settled_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class ScaleOutRecord:
    topic: SixPartitions
    produced: int = 0
    steps: list[Step] = field(default_factory=list)
    members: list[Ownership] = field(default_factory=list)
    prometheus_count: float = 0.0
    max_active_consistency: float = 0.0  # max over time of sum(monitoring_consistency_active)
    active_instances: float = 0.0  # instances that held the consistency lock at some point
    per_process: dict[str, float] = field(default_factory=dict)  # last scraped count per process


@dataclass
class ScaleOut:
    """Run with ``ScaleOut(...).run()``; every process, topic and the Prometheus are stopped after."""

    brokers: str
    postgres_uri: str
    workdir: Path
    rate: int = 300
    phase_s: float = 3.0

    def run(self) -> ScaleOutRecord:
        group = f"scale-out-{uuid.uuid4().hex[:8]}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = {name: services.free_port() for name in "abc"}
        with ExitStack() as stack:
            topic = stack.enter_context(six_partition_topic(self.brokers))
            record = ScaleOutRecord(topic)
            prometheus = self._prometheus(stack, ports)
            env = exporter_env(
                self.brokers, topic.topics, group, POSTGRES_URI=self.postgres_uri, EXPORTER_TOPICS=topic.name
            )
            live: dict[str, ExporterProcess] = {}
            logs: dict[str, Path] = {}

            def join(name: str) -> None:
                live[name] = process = ExporterProcess(
                    f"exporter-{name}", self.workdir, {**env, "EXPORTER_PORT": str(ports[name])}
                )
                stack.callback(process.stop)
                started = time.monotonic()  # the process answers /healthz: it is joining the group
                logs[name] = process.log_path
                label = f"{len(live) - 1}→{len(live)} ({name} joins)"
                self._settle(record, Step(label, name, True, len(live), 0.0), group, started)

            def leave(name: str) -> None:
                load.pause()
                assert wait_for(lambda: committed(self.brokers, group, topic) == load.sent, 60), "not all committed"
                assert wait_for(lambda: counted_in_prometheus(prometheus) == load.sent, 30), (
                    f"Prometheus counted {counted_in_prometheus(prometheus)} of {load.sent}"
                )
                started = time.monotonic()
                live.pop(name).stop()  # SIGTERM: finish the batch, commit, leave the group
                label = f"{len(live) + 1}→{len(live)} ({name} leaves)"
                self._settle(record, Step(label, name, False, len(live), 0.0), group, started)
                assert wait_for(lambda: scalar(prometheus, _ACTIVE) == 1, 30), "no consistency consumer took over"
                load.resume()

            # The scenario holds the consistency lock until a's group member is assigned, so a takes
            # it while its member already has every partition (see group_log.py).
            lock = AdvisoryLock(self.postgres_uri, f"{group}.consistency")
            assert lock.try_acquire()
            stack.callback(lock.release)
            load = PacedLoad(self.brokers, topic, self.rate)
            load.start()
            stack.callback(load.stop)
            join("a")
            lock.release()
            assert wait_for(lambda: value(scrape(live["a"].metrics_url), "monitoring_consistency_active") == 1, 30)
            time.sleep(self.phase_s)
            join("b")
            time.sleep(self.phase_s)
            join("c")
            time.sleep(self.phase_s)
            leave("a")  # the consistency consumer's instance: another one takes over
            time.sleep(self.phase_s)
            leave(next(name for name in live if name != self._active(live)))
            time.sleep(self.phase_s)
            record.produced = load.stop()
            assert wait_for(lambda: committed(self.brokers, group, topic) == record.produced, 60)
            wait_for(lambda: counted_in_prometheus(prometheus) == record.produced, 30)
            self._read_prometheus(record, prometheus)
            until = datetime.now(UTC)
            for process in live.values():
                process.stop()
        record.members = [read_ownership(name, path, topic.partitions, until) for name, path in logs.items()]
        previous: dict[str, list[str]] | None = None
        for step in record.steps:
            owners = owners_at(record.members, topic.partitions, step.settled_at)
            step.moved = moved(previous, owners) if previous is not None else len(topic.partitions)
            previous = owners
        return record

    def _prometheus(self, stack: ExitStack, ports: dict[str, int]) -> str:
        port, workdir = services.free_port(), self.workdir / "prometheus"
        workdir.mkdir(parents=True, exist_ok=True)
        targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports.values())
        config = (
            "global: {scrape_interval: 1s}\n"
            f"scrape_configs:\n  - {{job_name: exporter, static_configs: [{{targets: [{targets}]}}]}}\n"
        )
        server: ServerProcess = start_prometheus(services.binary("prometheus", "prometheus"), config, workdir, port)
        stack.callback(server.stop)
        return f"http://127.0.0.1:{port}"

    def _settle(self, record: ScaleOutRecord, step: Step, group: str, started: float) -> None:
        settled = wait_for(lambda: members_with_partitions(self.brokers, group) == step.members, 60)
        assert settled, f"{step.label}: not settled"
        step.rebalanced_s = round(time.monotonic() - started, 2)
        time.sleep(0.5)  # past the members' assigned log lines
        step.settled_at = datetime.now(UTC)
        record.steps.append(step)

    @staticmethod
    def _active(live: dict[str, ExporterProcess]) -> str:
        return next(name for name, p in live.items() if value(scrape(p.metrics_url), "monitoring_consistency_active"))

    @staticmethod
    def _read_prometheus(record: ScaleOutRecord, prometheus: str) -> None:
        record.prometheus_count = counted_in_prometheus(prometheus)
        record.max_active_consistency = max_concurrent_consistency(prometheus)
        record.active_instances = scalar(
            prometheus, 'count(max_over_time(monitoring_consistency_active{job="exporter"}[1h]) == 1)'
        )
        for series in query(prometheus, 'last_over_time(monitoring_events_consumed_total{job="exporter"}[1h])'):
            metric, sample = series["metric"], series["value"]
            assert isinstance(metric, dict)
            assert isinstance(sample, list)
            instance = str(metric["instance"])
            record.per_process[instance] = record.per_process.get(instance, 0.0) + float(sample[1])


_ACTIVE = 'sum(monitoring_consistency_active{job="exporter"})'


def max_concurrent_consistency(prometheus: str) -> float:
    """The most processes that reported an active consistency consumer at once, from the raw samples.

    Each process's runs of ``monitoring_consistency_active == 1`` are intervals from its first to its
    last sample of 1: it held the lock throughout each. Sums over a subquery would count a process
    that released the lock and left as still active until Prometheus's next scrape marked its series
    stale, which is not an overlap; two intervals that intersect are."""
    intervals: list[tuple[float, float]] = []
    for series in query(prometheus, 'monitoring_consistency_active{job="exporter"}[1h]'):
        values = series["values"]
        assert isinstance(values, list)
        start: float | None = None
        last = 0.0
        for at, raw in values:
            if float(raw) == 1.0:
                start = float(at) if start is None else start
                last = float(at)
            elif start is not None:
                intervals.append((start, last))
                start = None
        if start is not None:
            intervals.append((start, last))
    return float(max((sum(a <= at <= b for a, b in intervals) for at, _ in intervals), default=0))
