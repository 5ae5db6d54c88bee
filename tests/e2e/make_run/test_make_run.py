"""`monitoring run` (what `make run` starts): the whole pipeline on free ports with the demo fault.

Within two minutes the demo outage of transaction-service produces one page on the file channel
(printed by `monitoring run`, with its links) for its two alerts, one incident in the receiver's API
and the alerts on the alert console; every link of every notification answers 200; Ctrl-C (SIGINT)
or SIGTERM then stops every process it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import notification_links, services

FIRST_NOTIFICATION_BUDGET = 120.0  # the promise, from the command's start
STARTED = "notifications follow"


def get(url: str, key: Path | None = None) -> tuple[int, bytes]:
    """GET, with the API key that `monitoring run` wrote to ``key`` when given."""
    headers = {} if key is None else {"Authorization": f"Bearer {key.read_text().strip()}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren ...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process exited while we looked
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            out.add(pid)
    return out


@dataclass
class Run:
    proc: subprocess.Popen[str]
    ports: dict[str, int]
    run_dir: Path
    started_at: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def output(self) -> str:
        with self.lock:
            return "\n".join(line for _, line in self.lines)

    def wait_line(self, needle: str, timeout: float) -> float:
        """Seconds after start when a line containing ``needle`` was printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                hit = next((at for at, line in self.lines if needle in line), None)
            if hit is not None:
                return hit - self.started_at
            assert self.proc.poll() is None, f"monitoring run exited early:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"no line with {needle!r} after {timeout:.0f}s:\n{self.output()}")

    def url(self, name: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}{path}"


@contextmanager
def monitoring_run(tmp_path: Path) -> Iterator[Run]:
    ports = {name: services.free_port() for name in ("exporter", "receiver", "prometheus", "alertmanager", "node")}
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "POSTGRES_URI", "MONGODB_URI")},
        "EXPORTER_PORT": str(ports["exporter"]),
        "RECEIVER_PORT": str(ports["receiver"]),
        "PROMETHEUS_PORT": str(ports["prometheus"]),
        "ALERTMANAGER_PORT": str(ports["alertmanager"]),
        "LOG_FORMAT": "json",
    }
    argv = [sys.executable, "-m", "ops.cli", "run", "--run-dir", str(tmp_path / "run")]
    argv += ["--node-exporter-port", str(ports["node"]), "--platform-port", "0"]
    started_at = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = Run(proc, ports, tmp_path / "run", started_at)
    reader = threading.Thread(target=run.read, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        if proc.poll() is None:
            for pid in descendants(proc.pid):
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()


def stop_and_check_nothing_is_left(run: Run, signum: signal.Signals) -> None:
    children = descendants(run.proc.pid)
    # node-exporter, fake services, receiver (gunicorn master + 2 workers), exporter, Alertmanager, Prometheus
    assert len(children) >= 8, children
    run.proc.send_signal(signum)
    assert run.proc.wait(60) == 0, run.output()
    run.wait_line("monitoring stack stopped", 5)
    deadline = time.monotonic() + 10
    while alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(children) == set(), f"left running after {signum.name}: {alive(children)}"


def history(run: Run) -> list[dict[str, Any]]:
    _, body = get(run.url("receiver", "/api/v1/alerts"), run.run_dir / "receiver-api-key")
    alerts: list[dict[str, Any]] = json.loads(body)["alerts"]
    return alerts


def test_the_demo_fault_notifies_within_two_minutes_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    with monitoring_run(tmp_path) as run:
        run.wait_line(STARTED, 90)
        output = run.output()
        for name, path in [
            ("receiver", "/console/"),
            ("receiver", "/api/v1/alerts"),
            ("exporter", "/metrics"),
            ("prometheus", "/alerts"),
            ("alertmanager", "/#/alerts"),
            ("node", "/metrics"),
        ]:
            assert run.url(name, path) in output, output

        elapsed = run.wait_line(
            "notification: [CRITICAL] FIRING: ServiceDown (transaction-service)",
            FIRST_NOTIFICATION_BUDGET - (time.monotonic() - run.started_at),
        )
        print(f"first notification {elapsed:.1f}s after `monitoring run` started")

        # Two signals see the outage, the failed scrape and the exporter's health check: two alerts, one
        # incident, one page; the second alert is a follow-up naming the incident.
        run.wait_line("notification: [CRITICAL] UPDATE: incident ", 30)
        notifications = [json.loads(line) for line in (run.run_dir / "notifications.jsonl").read_text().splitlines()]
        outage = [n for n in notifications if n["alert"]["alertname"] == "ServiceDown"]
        pages = [n for n in outage if n["action"] == "trigger"]
        assert [p["title"] for p in pages] == ["[CRITICAL] FIRING: ServiceDown (transaction-service)"], outage
        [update] = [n for n in outage if n["action"] == "update"]
        assert update["incident"]["id"] == pages[0]["incident"]["id"]
        assert update["alert"]["id"] != pages[0]["alert"]["id"]
        text = (run.run_dir / "notifications.jsonl").read_text()
        # Every link of every notification answers: acknowledge page, runbook, Prometheus graph, console.
        statuses = notification_links.follow_all(notification_links.file_lines(text))
        assert {url: status for url, status in statuses.items() if status != 200} == {}
        receiver = run.url("receiver", "")
        for prefix in ("/console/ack/", "/runbooks/servicedown", "/console/alerts/"):
            assert any(u.startswith(f"{receiver}{prefix}") for u in statuses), (prefix, statuses)
        assert any(u.startswith(run.url("prometheus", "/graph?")) for u in statuses), statuses
        run.wait_line("  acknowledge  http://127.0.0.1:", 5)  # printed under the notification
        print(f"followed {len(statuses)} distinct links of the notifications: every one answered 200")
        entries = [a for a in history(run) if a["alertname"] == "ServiceDown"]
        assert {a["labels"]["job"] for a in entries} == {"platform", "exporter"}, entries
        assert {a["service"] for a in entries} == {"transaction-service"}
        assert {a["priority"] for a in entries} == {"critical"}
        _, body = get(run.url("receiver", "/api/v1/incidents"), run.run_dir / "receiver-api-key")
        [incident] = [i for i in json.loads(body)["incidents"] if i["title"] == "ServiceDown (transaction-service)"]
        assert (incident["alertCount"], incident["part"]) == (2, "transaction-service")
        _, console = get(run.url("receiver", "/console/"), run.run_dir / "receiver-api-key")
        critical = console.decode().split('id="priority-critical"')[1].split('id="priority-high"')[0]
        assert "ServiceDown" in critical
        assert "transaction-service" in critical
        _, page = get(run.url("receiver", "/console/history?alertname=ServiceDown"), run.run_dir / "receiver-api-key")
        assert f'href="/console/alerts/{entries[0]["id"]}"' in page.decode()

        _, metrics = get(run.url("exporter", "/metrics"))
        consumed = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.decode().splitlines()
            if line.startswith("monitoring_events_consumed_total{")
        )
        assert consumed > 0, "the in-process event source fed nothing"

        stop_and_check_nothing_is_left(run, signal.SIGINT)


def test_sigterm_stops_every_process_it_started(tmp_path: Path) -> None:
    with monitoring_run(tmp_path) as run:
        run.wait_line(STARTED, 90)
        stop_and_check_nothing_is_left(run, signal.SIGTERM)
