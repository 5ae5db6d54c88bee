"""The simulator's `monitoring` subcommands as an operator runs them, against real Kafka and HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests import services
from tests.integration.simulator.readback import create_platform_topics, delete_topics, observe, read_all
from tests.processes import ServerProcess

MONITORING = [sys.executable, "-m", "ops.cli"]


@pytest.fixture
def topic_prefix(kafka_brokers: str) -> Iterator[str]:
    prefix = f"test.{uuid.uuid4().hex[:12]}."
    names = create_platform_topics(kafka_brokers, prefix)
    yield prefix
    delete_topics(kafka_brokers, names)


def consecutive_free_ports(n: int) -> int:
    for _ in range(50):
        base = services.free_port()
        sockets = []
        try:
            for port in range(base, base + n):
                sock = socket.socket()
                sockets.append(sock)  # before bind: a port in use must still close its socket
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no consecutive free ports")


def test_simulate_with_a_scenario_switched_over_the_control_endpoint_reports_what_kafka_holds(
    kafka_brokers: str, topic_prefix: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "drill.yaml"
    scenario.write_text(
        "name: drill\nseed: 3\nduration: 4s\nprofile: {rate: 100, followup_delay: 100ms}\n"
        "phases:\n  - {at: 0s, name: baseline}\n  - {at: 1s, name: fault, faults: {drop_followup: 0.5}}\n"
        "  - {at: 2s, name: recovery}\n"
    )
    report_path = tmp_path / "report.json"
    control_port = services.free_port()
    argv = [
        *MONITORING,
        "simulate",
        f"--scenario={scenario}",
        f"--brokers={kafka_brokers}",
        f"--topic-prefix={topic_prefix}",
        f"--control-port={control_port}",
        "--consumer-group=platform-{uuid}",
        f"--report={report_path}",
    ]
    process = ServerProcess("simulate", argv, tmp_path)
    try:
        process.wait_ready(f"http://127.0.0.1:{control_port}/health", timeout=15)
        control = f"http://127.0.0.1:{control_port}/faults"
        assert requests.put(control, json={"duplicate": 1.0}, timeout=5).status_code == 200
        assert requests.get(control, timeout=5).json()["override"]["duplicate"] == 1.0
        assert requests.put(control, json={"duplicate": "yes"}, timeout=5).status_code == 400
        time.sleep(0.3)  # let some traffic through with the override in force
        assert requests.delete(control, timeout=5).json() == {"override": None}
        assert process.proc.wait(30) == 0, process.log_tail()
    finally:
        process.stop()
    report = json.loads(report_path.read_text())
    claimed = {kind: set(ids) for kind, ids in report["injected_examples"].items()}
    assert claimed["duplicate"]
    assert claimed["missing_followup"]

    records = read_all(kafka_brokers, [f"{topic_prefix}{s}.events" for s in ("asset", "portfolio", "transaction")], 1)
    observed = observe(records)
    assert len(records) == sum(report["records_by_topic"].values())
    assert dict(observed.events_by_type()) == report["events_by_type"]
    assert observed.duplicates() == claimed["duplicate"]
    assert observed.missing_followups() == claimed["missing_followup"]


def test_fake_services_serve_metrics_and_health_and_stop_after_their_duration(tmp_path: Path) -> None:
    base = consecutive_free_ports(3)
    argv = [*MONITORING, "fake-services", f"--port={base}", "--duration=5", "--synthetic-series=100"]
    process = ServerProcess("fake-services", argv, tmp_path)
    try:
        for port in (base, base + 1, base + 2):
            process.wait_ready(f"http://127.0.0.1:{port}/health", timeout=15)
        sample = 'http_requests_total{method="GET",route="/assets",service="asset-service",status="200"}'
        deadline = time.monotonic() + 15
        metrics = ""
        while sample not in metrics and time.monotonic() < deadline:
            time.sleep(0.2)
            metrics = requests.get(f"http://127.0.0.1:{base}/metrics", timeout=5).text
        assert sample in metrics
        assert "http_request_duration_seconds_bucket" in metrics
        assert metrics.count("synthetic_series_value{") == 100
        assert process.proc.wait(30) == 0, process.log_tail()
    finally:
        process.stop()


@pytest.mark.parametrize(
    "argv",
    [
        ["load", "webhook", "--url=http://192.0.2.1:8080/webhook", "--count=1"],
        ["load", "kafka", "--brokers=192.0.2.1:9092", "--topic=t", "--count=1"],
        ["simulate", "--brokers=192.0.2.1:9092", "--steps=1"],
    ],
    ids=["webhook", "kafka", "simulate"],
)
def test_load_to_a_non_loopback_target_is_refused_with_a_clear_error(argv: list[str]) -> None:
    done = subprocess.run([*MONITORING, *argv], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr


def test_simulate_without_a_bound_is_refused() -> None:
    done = subprocess.run([*MONITORING, "simulate"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "unbounded" in done.stderr


def test_load_kafka_prints_the_achieved_rate(kafka_brokers: str, kafka_topic: str) -> None:
    argv = [*MONITORING, "load", "kafka", f"--brokers={kafka_brokers}", f"--topic={kafka_topic}", "--count=300"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent 300 records in ")
    assert "records/s achieved, 0 undelivered" in done.stdout
