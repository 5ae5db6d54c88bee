"""Start real server processes (Prometheus, Alertmanager, our own services) for a test and stop them."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests import services

ROOT = Path(__file__).resolve().parents[1]
# Built by scripts/services/victoriametrics.sh (`make services`) from the Go module.
VICTORIAMETRICS = Path(os.environ.get("MONITORING_CACHE", ROOT / ".cache")) / "bin" / "victoria-metrics-v1.151.0"


class ProcessFailed(Exception):
    pass


class ServerProcess:
    """A child process with its log in a file; ``wait_ready`` polls an HTTP URL."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(list(argv), stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                failed = ProcessFailed(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                self._log.close()  # the caller never gets this process to stop
                raise failed
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback test URL
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise ProcessFailed(f"{self.name} not ready at {url} after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def start_prometheus(binary: str, config: str, workdir: Path, port: int, *extra: str) -> ServerProcess:
    """Prometheus on 127.0.0.1:``port`` with ``config`` (YAML text), a private TSDB, fast alert resends."""
    config_path = workdir / "prometheus.yml"
    config_path.write_text(config)
    server = ServerProcess(
        f"prometheus-{port}",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--rules.alert.resend-delay=1s",
            "--log.level=warn",
            *extra,
        ],
        workdir,
    )
    server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
    return server


def start_victoriametrics(workdir: Path, port: int, *extra: str) -> ServerProcess:
    """Single-node VictoriaMetrics on 127.0.0.1:``port`` with a private data directory and the shipped
    ingestion relabeling (victoriametrics/relabel.yml: the HA pair's ``replica`` label dropped)."""
    if not VICTORIAMETRICS.exists():
        raise services.ServiceMissing(f"{VICTORIAMETRICS} missing: run `make services` (builds it from the Go module)")
    server = ServerProcess(
        f"victoriametrics-{port}",
        [
            str(VICTORIAMETRICS),
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={workdir / 'victoriametrics'}",
            f"-relabelConfig={ROOT / 'victoriametrics' / 'relabel.yml'}",
            "-memory.allowedPercent=5",
            "-loggerLevel=WARN",
            *extra,
        ],
        workdir,
    )
    server.wait_ready(f"http://127.0.0.1:{port}/health")
    return server


def start_alertmanager(binary: str, config: str, workdir: Path, port: int) -> ServerProcess:
    """Alertmanager on 127.0.0.1:``port`` as a single instance (clustering off)."""
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(config)
    server = ServerProcess(
        f"alertmanager-{port}",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        workdir,
    )
    server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
    return server


def post_alerts(alertmanager_url: str, alerts: Sequence[Mapping[str, object]]) -> None:
    """Send alerts to Alertmanager's API v2 as Prometheus does; Alertmanager must answer 200."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{alertmanager_url}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        assert response.status == 200
