"""`monitoring run` (what `make run` starts) serves health and metrics, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests import services


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def test_run_starts_both_services_prints_urls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    exporter_port, receiver_port = services.free_port(), services.free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "POSTGRES_URI", "MONGODB_URI")},
        "EXPORTER_PORT": str(exporter_port),
        "RECEIVER_PORT": str(receiver_port),
        "RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3"),
        "EXPORTER_SPOOL_PATH": str(tmp_path / "spool.sqlite3"),
        "EXPORTER_EVENT_STORE_PATH": str(tmp_path / "events.sqlite3"),
        "EXPORTER_INPROCESS_RATE": "200",
        "LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring.cli", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "alert history" in line or proc.poll() is not None:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{exporter_port}/metrics" in output, output
        assert f"http://127.0.0.1:{receiver_port}/readyz" in output, output

        assert get(f"http://127.0.0.1:{receiver_port}/readyz")[0] == 200
        assert get(f"http://127.0.0.1:{exporter_port}/readyz")[0] == 200
        consumed = 0.0
        for _ in range(50):
            _, body = get(f"http://127.0.0.1:{exporter_port}/metrics")
            consumed = sum(
                float(line.rsplit(" ", 1)[1])
                for line in body.decode().splitlines()
                if line.startswith("monitoring_events_consumed_total{")
            )
            if consumed > 0:
                break
            time.sleep(0.1)
        assert consumed > 0, "the in-process event source fed nothing"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert "monitoring stack stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
