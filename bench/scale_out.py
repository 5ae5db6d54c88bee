"""Exporter processes scaled out: 1, 2 and 3 `monitoring exporter` processes in one consumer group.

On the real local broker, a six-partition topic holding a backlog of platform events:

- throughput of the group and of each process while all of them are members (the window from
  the first sample after the group has every member assigned to the sample before 90% of the
  backlog is consumed), sizes interleaved in rounds, medians; consistency checks on, as shipped
  (the process holding the PostgreSQL lock also runs the consistency consumer over every
  partition);
- CPU of each exporter, of this benchmark and of the whole machine over the same window, and the
  load average around it: on a 2-core machine shared with other work the ceiling is the CPU, so
  the scaling is read against it;
- partitions moved and rebalance times when processes join and leave (1→2→3→2→1 under a
  paced load: the scenario of tests/e2e/exporter/scale_out.py, whose test asserts correctness).

`python -m bench.scale_out` runs this alone and writes bench/results/scale-out.json;
`python -m bench` includes it in the table and latest.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

from confluent_kafka import Consumer, Producer

from bench.receiver import fresh_database
from bench.report import RESULTS, Result, render
from bench.rounds import Figures
from tests.e2e.exporter.scale_out import ScaleOut, SixPartitions, committed, six_partition_topic
from tests.e2e.exporter.test_exporter_instances import members_with_partitions
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import platform_events, produce, scrape, total, value
from tests.processes import ProcessFailed
from tests.services import kafka_brokers

BACKLOG = 600_000
SIZES = (1, 2, 3)
ROUNDS = 3
SAMPLE_EVERY = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSample:
    at: float  # time.monotonic()
    machine_busy: float  # CPU-seconds busy, all cores (/proc/stat)
    machine_total: float  # CPU-seconds elapsed, all cores
    own: float  # this benchmark's CPU-seconds


def cpu_sample() -> CpuSample:
    with open("/proc/stat") as stat:
        fields = [float(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    own = os.times()
    return CpuSample(
        time.monotonic(), (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS, own.user + own.system
    )


def process_cpu(pid: int) -> float:
    """CPU-seconds (user + system) of a process and its waited-for children."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return sum(float(v) for v in fields[11:15]) / CLOCK_TICKS


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


@dataclass
class Measured:
    processes: int
    group_rate: float  # events/s of the whole group in the window
    consistency_rate: float  # events/s the single consistency consumer committed in the window
    per_process: list[float]  # events/s of each process, the consistency consumer's first
    exporter_cpu: list[float]  # cores used by each process, same order
    machine_cores_busy: float  # of os.cpu_count()
    bench_cores: float
    window_s: float
    load_before: str
    load_after: str


# The prefetch limits exporter/main.py gives its consumers (they bound RSS under a backlog).
EXPORTER_PREFETCH = {"queued.max.messages.kbytes": 16384, "queued.min.messages": 10_000, "fetch.max.bytes": 4 << 20}


def bare_consume(brokers: str, topic: SixPartitions, extra: dict[str, int], count: int = 300_000) -> float:
    """Events/s of a bare ``consume(1000)`` loop over the backlog: librdkafka's delivery alone."""
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-bare-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )
    consumer.subscribe([topic.name])
    got, started = 0, 0.0
    try:
        while got < count:
            messages = consumer.consume(1000, 1.0)
            if messages and not started:
                started = time.perf_counter()
            got += len(messages)
    finally:
        consumer.close()
    return got / (time.perf_counter() - started)


def fill(brokers: str, topic: SixPartitions, count: int) -> None:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "batch.size": 1_000_000})
    events = islice(platform_events(seed=71, steps=count, start=datetime.now(UTC)), count)
    sent = produce(brokers, topic.topics, events, producer)
    if sent != count:
        raise RuntimeError(f"the platform model gave {sent} events, {count} wanted")


def start_processes(count: int, env: dict[str, str], log_dir: Path) -> list[ExporterProcess]:
    """``count`` exporters started together (each start waits for /healthz, so in threads)."""
    started: list[ExporterProcess | ProcessFailed] = [ProcessFailed("not started")] * count

    def start(i: int) -> None:
        try:
            started[i] = ExporterProcess(f"exporter-{count}-{i}-{uuid.uuid4().hex[:4]}", log_dir, env)
        except ProcessFailed as exc:  # raised below, once every thread is joined
            started[i] = exc

    threads = [threading.Thread(target=start, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processes = [p for p in started if isinstance(p, ExporterProcess)]
    failed = [p for p in started if not isinstance(p, ExporterProcess)]
    if failed:
        for process in processes:
            process.stop()
        raise failed[0]
    return processes


def consumed(process: ExporterProcess) -> float:
    return total(scrape(process.metrics_url), "monitoring_events_consumed_total")


def measure(count: int, brokers: str, topic: SixPartitions, uri: str, log_dir: Path) -> Measured:
    group = f"bench-scale-out-{uuid.uuid4().hex[:8]}"
    env = {
        "KAFKA_BROKERS": brokers,
        "EXPORTER_TOPICS": topic.name,
        "EXPORTER_GROUP_ID": group,
        "POSTGRES_URI": uri,
        "LOG_LEVEL": "warning",
        # Commits every second (the default is 5 s) so the consistency group's committed offsets
        # measure its progress within the window.
        "EXPORTER_COMMIT_INTERVAL": "1s",
    }
    load_before = load_average()
    processes = start_processes(count, env, log_dir)
    try:
        deadline = time.monotonic() + 180
        while members_with_partitions(brokers, group) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} exporters never all got partitions")
            time.sleep(0.2)
        first = ([consumed(p) for p in processes], [process_cpu(p.proc.pid) for p in processes], cpu_sample())
        checked_first = committed(brokers, f"{group}.consistency", topic)
        last, checked_last = first, checked_first
        while time.monotonic() < deadline:
            time.sleep(SAMPLE_EVERY)
            sample = ([consumed(p) for p in processes], [process_cpu(p.proc.pid) for p in processes], cpu_sample())
            if sum(sample[0]) > 0.9 * BACKLOG:
                break
            last, checked_last = sample, committed(brokers, f"{group}.consistency", topic)
        active = [value(scrape(p.metrics_url), "monitoring_consistency_active") for p in processes]
    finally:
        for process in processes:
            process.stop()
    window = last[2].at - first[2].at
    if window < 3:
        raise RuntimeError(f"{count} exporters: a window of {window:.1f}s is too short; raise BACKLOG")
    order = sorted(range(count), key=lambda i: -active[i])
    rates = [(last[0][i] - first[0][i]) / window for i in order]
    cores = [(last[1][i] - first[1][i]) / window for i in order]
    busy = (last[2].machine_busy - first[2].machine_busy) / (last[2].machine_total - first[2].machine_total)
    return Measured(
        processes=count,
        group_rate=sum(rates),
        consistency_rate=(checked_last - checked_first) / window,
        per_process=rates,
        exporter_cpu=cores,
        machine_cores_busy=busy * (os.cpu_count() or 1),
        bench_cores=(last[2].own - first[2].own) / window,
        window_s=window,
        load_before=load_before,
        load_after=load_average(),
    )


@dataclass
class ScaleOutReport:
    measured_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    backlog: int = BACKLOG
    runs: list[Measured] = field(default_factory=list)
    steps: list[dict[str, object]] = field(default_factory=list)
    bare_default: list[float] = field(default_factory=list)  # bare loop, librdkafka's defaults
    bare_prefetch: list[float] = field(default_factory=list)  # bare loop, the exporter's prefetch limits

    def median(self, count: int, pick: Callable[[Measured], float]) -> float:
        return statistics.median(pick(m) for m in self.runs if m.processes == count)

    def figures(self, count: int, pick: Callable[[Measured], float]) -> Figures:
        """``pick`` of every round with ``count`` processes, with the load before each."""
        runs = [m for m in self.runs if m.processes == count]
        return Figures(tuple(pick(m) for m in runs), tuple(float(m.load_before.split()[0]) for m in runs))


def measure_all() -> ScaleOutReport:
    brokers = kafka_brokers()
    report = ScaleOutReport()
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-out-") as workdir,
        fresh_database() as uri,
        six_partition_topic(brokers) as topic,
    ):
        fill(brokers, topic, BACKLOG)
        for _ in range(ROUNDS):
            for count in SIZES:
                report.runs.append(measure(count, brokers, topic, uri, Path(workdir)))
            report.bare_default.append(bare_consume(brokers, topic, {}))
            report.bare_prefetch.append(bare_consume(brokers, topic, EXPORTER_PREFETCH))
        record = ScaleOut(brokers, uri, Path(workdir) / "join-leave").run()
    report.steps = [
        {"step": s.label, "members": s.members, "partitions_moved": s.moved, "rebalanced_s": s.rebalanced_s}
        for s in record.steps
    ]
    return report


def results(report: ScaleOutReport) -> list[Result]:
    one = report.figures(1, lambda m: m.group_rate)
    out = []
    for count in SIZES[1:]:
        cores = report.median(count, lambda m: m.machine_cores_busy)
        out.append(
            Result(
                f"exporter group, {count} processes, 6 partitions",
                report.figures(count, lambda m: m.group_rate),
                "events/s",
                "1 process, same run",
                one,
                f"machine {cores:.1f} of {report.cores} cores busy",
            )
        )
    out.append(
        Result(
            "bare consume(1000) loop with the exporter's prefetch limits",
            Figures(tuple(report.bare_prefetch)),
            "events/s",
            "the same loop, librdkafka defaults",
            Figures(tuple(report.bare_default)),
            "the per-process ceiling under a backlog",
        )
    )
    out.append(
        Result(
            "exporter, per process with 3 in the group",
            report.figures(3, lambda m: m.group_rate / 3),
            "events/s",
            "1 process alone, same run",
            one,
        )
    )
    return out


def write(report: ScaleOutReport) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "scale-out.json"
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return path


def run() -> list[Result]:
    report = measure_all()
    write(report)
    return results(report)


def main() -> int:
    report = measure_all()
    print(render(results(report)))
    for m in report.runs:
        print(
            f"{m.processes} proc: group {m.group_rate:,.0f}/s, consistency {m.consistency_rate:,.0f}/s, per process "
            f"{', '.join(f'{r:,.0f}' for r in m.per_process)}; exporter cores "
            f"{', '.join(f'{c:.2f}' for c in m.exporter_cpu)}; machine {m.machine_cores_busy:.2f} cores; "
            f"bench {m.bench_cores:.2f}; {m.window_s:.0f}s; load {m.load_before} -> {m.load_after}"
        )
    for step in report.steps:
        print(step)
    print(f"bare loop: defaults {report.bare_default}, exporter prefetch {report.bare_prefetch}")
    print(f"\nwritten to {write(report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
