"""The whole exporter process as a user starts it, timed on records already on Kafka.

``monitoring exporter`` (the installed entry point) runs with every feature on as shipped: the
event metrics, the single-active consistency consumer (its lock in PostgreSQL), consumer-group
lag of every group, domain events (spooled, published to Kafka, stored in the embedded event
store) and metric snapshots in PostgreSQL. Progress is read from its own ``/metrics``: the
records it has accounted for (consumed, duplicate, failed or of an unknown type).
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
from collections.abc import Iterator
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


@dataclass(frozen=True)
class ProcessRun:
    rate: float  # records/s, from the first accounted record to the last
    rss_ready: float  # bytes, when /metrics first answered
    rss_after: float  # bytes, once every record was accounted for
    cpu_seconds: float  # user + system time of the process over the run


class ExporterProcess:
    def __init__(self, brokers: str, topic: str, postgres_uri: str, workdir: Path) -> None:
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
            }
        )
        self.server = ServerProcess("exporter", [str(MONITORING), "exporter"], workdir, env)
        self.server.wait_ready(f"http://127.0.0.1:{self.port}/healthz")

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def accounted(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name in ACCOUNTED
            for sample in family.samples
            if sample.name.endswith("_total")
        )

    def run_until(self, count: int, timeout: float = 600.0) -> ProcessRun:
        """Wait until ``count`` records are accounted for; the rate from the first to the last."""
        rss_ready, cpu_ready = rss_bytes(self.pid), cpu_seconds(self.pid)
        started = first = 0.0
        deadline = time.monotonic() + timeout
        while (done := self.accounted()) < count:
            if self.server.proc.poll() is not None or time.monotonic() > deadline:
                log = self.server.log_tail()
                raise RuntimeError(f"exporter accounted for {done:,.0f} of {count:,} records:\n{log}")
            if done and not started:
                started, first = time.perf_counter(), done
            # Each scrape costs the process a render of every series: a second apart, and finer only
            # near the end, where the poll interval would add to the elapsed time.
            time.sleep(0.1 if done >= 0.95 * count else 1.0)
        elapsed = time.perf_counter() - started
        return ProcessRun((done - first) / elapsed, rss_ready, rss_bytes(self.pid), cpu_seconds(self.pid) - cpu_ready)

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def exporter_process(brokers: str, topic: str, postgres_uri: str) -> Iterator[ExporterProcess]:
    with tempfile.TemporaryDirectory(prefix="bench-exporter-") as workdir:
        process = ExporterProcess(brokers, topic, postgres_uri, Path(workdir))
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
