"""The whole exporter process as a user starts it, timed on records already on Kafka.

``monitoring exporter`` (the installed entry point) runs with every feature on as shipped: the
event metrics, the single-active consistency consumer (its lock in PostgreSQL; a process of its
own that the exporter starts), consumer-group lag of every group, domain events (spooled,
published to Kafka, stored in the embedded event store) and metric snapshots in PostgreSQL.
Progress is read from its own ``/metrics``: the records the event consumer has accounted for
(consumed, duplicate, failed or of an unknown type) and those the consistency consumer has read;
a run ends when both have seen every record. CPU time and memory are those of the whole process
tree, the exporter and the consistency process it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ServerProcess
from tests.services import free_port

MONITORING = Path(sysconfig.get_path("scripts")) / "monitoring"
ACCOUNTED = (
    "monitoring_events_consumed",
    "monitoring_events_duplicate",
    "monitoring_events_failed",
    "monitoring_events_unknown_type",
)
CHECKED = "monitoring_consistency_records"


@dataclass(frozen=True)
class ProcessRun:
    rate: float  # records/s, from the first accounted record until both consumers had seen the last
    rss_ready: float  # bytes, when /metrics first answered: the sum over the process tree
    rss_after: float  # bytes, once every record was accounted for: the sum over the process tree
    pss_after: float  # bytes, proportional set size (shared pages split between the processes), summed
    rss_exporter: float  # bytes, the exporter's process alone, after
    cpu_seconds: float  # user + system time of the process tree over the run
    processes: int  # in the tree, after


class ExporterProcess:
    def __init__(
        self, brokers: str, topic: str, postgres_uri: str, workdir: Path, settings: Mapping[str, str] | None = None
    ) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EXPORTER_", "MONGODB_", "COLLECTION_"))}
        env.update(
            {
                "KAFKA_BROKERS": brokers,
                "POSTGRES_URI": postgres_uri,
                "EXPORTER_TOPICS": topic,
                "EXPORTER_GROUP_ID": f"bench-process-{uuid.uuid4().hex[:10]}",
                "EXPORTER_PORT": str(self.port),
                "EXPORTER_SPOOL_PATH": str(workdir / "spool.sqlite3"),
                "EXPORTER_EVENT_STORE_PATH": str(workdir / "events.sqlite3"),
                "LOG_FORMAT": "json",
                **(settings or {}),
            }
        )
        self.server = ServerProcess("exporter", [str(MONITORING), "exporter"], workdir, env)
        self.server.wait_ready(f"http://127.0.0.1:{self.port}/healthz")

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def progress(self) -> tuple[float, float]:
        """Records accounted for by the event consumer, and read by the consistency consumer."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        accounted = checked = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    if family.name in ACCOUNTED:
                        accounted += sample.value
                    elif family.name == CHECKED:
                        checked += sample.value
        return accounted, checked

    def run_until(self, count: int, timeout: float = 600.0) -> ProcessRun:
        """Wait until both consumers have seen ``count`` records; the rate from the first record to that."""
        tree = process_tree(self.pid)
        rss_ready, cpu_ready = sum(map(rss_bytes, tree)), sum(map(cpu_seconds, tree))
        started = first = 0.0
        deadline = time.monotonic() + timeout
        while min(done := self.progress()) < count:
            if self.server.proc.poll() is not None or time.monotonic() > deadline:
                log = self.server.log_tail()
                progress = f"accounted for {done[0]:,.0f} and checked {done[1]:,.0f} of {count:,} records"
                raise RuntimeError(f"exporter {progress}:\n{log}")
            if done[0] and not started:
                started, first = time.perf_counter(), done[0]
            # Each scrape costs the process a render of every series: a second apart, and finer only
            # near the end, where the poll interval would add to the elapsed time.
            time.sleep(0.1 if min(done) >= 0.95 * count else 1.0)
        elapsed = time.perf_counter() - started
        tree = process_tree(self.pid)
        return ProcessRun(
            rate=(count - first) / elapsed,
            rss_ready=rss_ready,
            rss_after=sum(map(rss_bytes, tree)),
            pss_after=sum(map(pss_bytes, tree)),
            rss_exporter=rss_bytes(self.pid),
            cpu_seconds=sum(map(cpu_seconds, tree)) - cpu_ready,
            processes=len(tree),
        )

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def exporter_process(
    brokers: str, topic: str, postgres_uri: str, settings: Mapping[str, str] | None = None
) -> Iterator[ExporterProcess]:
    """``settings``: environment variables on top of the shipped defaults."""
    with tempfile.TemporaryDirectory(prefix="bench-exporter-") as workdir:
        process = ExporterProcess(brokers, topic, postgres_uri, Path(workdir), settings)
        try:
            yield process
        finally:
            process.stop()


@contextmanager
def py_spy(pid: int, out: Path, *, gil: bool = True, rate: int = 100) -> Iterator[None]:
    """``py-spy record`` attached to ``pid`` while the block runs, per thread: only the thread holding
    the GIL, or (``gil=False``) every thread, waiting included."""
    command = [str(Path(sysconfig.get_path("scripts")) / "py-spy"), "record", "--pid", str(pid), "--threads"]
    command += ["--gil" if gil else "--idle", "--rate", str(rate), "--format", "raw", "--output", str(out)]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1.0)  # attached before the first record
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes the profile when interrupted
        _, errors = spy.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-2000:]}")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def pss_bytes(pid: int) -> float:
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("Pss:"):
                return float(line.split()[1]) * 1024
    raise RuntimeError(f"no Pss for process {pid}")


def rss_bytes(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
