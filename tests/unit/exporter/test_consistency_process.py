"""The consistency worker process: restarted when it exits, stopped with its term, gone with the exporter."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pytest
from prometheus_client import CollectorRegistry

from exporter import metric_snapshot
from exporter.config import ExporterConfig
from exporter.consistency_process import ConsistencyProcess
from exporter.consistency_reports import ConsistencyReports
from exporter.consistency_worker import PARENT_GONE
from exporter.metric_snapshot import Report
from exporter.metrics import EventMetrics
from tests.integration.exporter.stream import wait_for

# Stands in for exporter/consistency_worker.py: reads the configuration, reports 10 records read,
# then either exits with 1 ("crash") or waits for SIGTERM and reports one record more ("steady").
FAKE_WORKER = """
import pickle, signal, sys, time
from prometheus_client import CollectorRegistry
from exporter import metric_snapshot
from exporter.metrics import ConsistencyMetrics
pickle.load(sys.stdin.buffer)
registry = CollectorRegistry()
metrics = ConsistencyMetrics(registry)
reports = open(int(sys.argv[sys.argv.index("--report-fd") + 1]), "wb")
metrics.records.inc(10)
metric_snapshot.write(reports, metric_snapshot.take(registry))
if sys.argv[1] == "crash":
    sys.exit(1)
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
while not stopping:
    time.sleep(0.01)
metrics.records.inc()
metric_snapshot.write(reports, metric_snapshot.take(registry))
"""
CONFIG = ExporterConfig.from_environ({"KAFKA_BROKERS": "127.0.0.1:1", "LOG_FORMAT": "json"})


def supervised(mode: str) -> tuple[CollectorRegistry, ConsistencyProcess]:
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    reports = ConsistencyReports(events)
    registry.register(reports)
    process = ConsistencyProcess(
        CONFIG,
        reports,
        events.loop_errors.labels("consistency").inc,
        command=[sys.executable, "-c", FAKE_WORKER, mode],
        restart_delay=0.01,
    )
    return registry, process


def records(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("monitoring_consistency_records_total") or 0.0


def crashes(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("monitoring_loop_errors_total", {"loop": "consistency"}) or 0.0


def test_a_worker_that_exits_is_counted_and_started_again_and_its_counts_carry_on() -> None:
    registry, process = supervised("crash")
    process.start()
    try:
        assert wait_for(lambda: records(registry) >= 30 and crashes(registry) >= 3, 60, 0.05)
    finally:
        process.stop()
    assert records(registry) == 10 * crashes(registry)  # every worker's report, none lost or counted twice


def test_stopping_the_term_stops_its_worker_which_finishes_and_reports_last() -> None:
    registry, process = supervised("steady")
    process.start()
    assert wait_for(lambda: records(registry) == 10, 30, 0.05)
    pid = process.pid
    assert pid is not None
    process.stop()
    assert records(registry) == 11  # its last report, sent after SIGTERM
    assert crashes(registry) == 0
    assert process.pid is None


@dataclass
class RealWorker:
    process: subprocess.Popen[bytes]
    reports: BinaryIO

    def read_all(self) -> list[Report]:
        out = []
        while (report := metric_snapshot.read(self.reports)) is not None:
            out.append(report)
        return out


@pytest.fixture
def worker() -> Iterator[RealWorker]:
    """The real worker, as the exporter starts it, against a broker that does not answer."""
    reading, writing = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter.consistency_worker", "--report-fd", str(writing)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(writing,),
    )
    os.close(writing)
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(CONFIG))
    process.stdin.flush()
    with open(reading, "rb") as reports:
        yield RealWorker(process, reports)
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdin.close()


def test_the_worker_reports_then_exits_at_once_without_committing_when_the_exporter_is_gone(
    worker: RealWorker,
) -> None:
    first = metric_snapshot.read(worker.reports)
    assert first is not None
    assert any(f.name == "monitoring_consistency_records" for f in first.families)
    assert worker.process.stdin is not None
    worker.process.stdin.close()  # what the kernel does when the exporter dies, however it dies
    assert worker.process.wait(10) == PARENT_GONE


def test_the_worker_stops_on_sigterm_with_a_last_report(worker: RealWorker) -> None:
    assert metric_snapshot.read(worker.reports) is not None
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(30) == 0
    assert worker.read_all()  # at least the last one
