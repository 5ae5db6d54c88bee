"""Run the exporter as a real process (``monitoring exporter``), as operators do."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.processes import ServerProcess
from tests.services import free_port


class ExporterProcess(ServerProcess):
    def __init__(self, name: str, log_dir: Path, env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "POSTGRES_URI", "MONGODB_URI")}
        full = {
            **base,
            "EXPORTER_PORT": str(free_port()),
            "LOG_FORMAT": "json",
            "EXPORTER_SPOOL_PATH": str(log_dir / f"{name}-spool.sqlite3"),
            "EXPORTER_EVENT_STORE_PATH": str(log_dir / f"{name}-events.sqlite3"),
            **env,
        }
        self.port = int(full["EXPORTER_PORT"])
        super().__init__(name, [sys.executable, "-m", "ops.cli", "exporter"], log_dir, full)
        self.wait_ready(f"{self.url}/healthz")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:  # noqa: S310 - loopback
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def kill(self) -> None:
        """SIGKILL: no batch finished, no commit, no goodbye."""
        self.proc.kill()
        self.proc.wait(10)
