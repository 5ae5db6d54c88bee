"""Fault scenarios: the scale knob, private services, and the figures each scenario records.

``RELIABILITY_SCALE=short`` (the default, used by ``make test``) runs every scenario briefly;
``RELIABILITY_SCALE=full`` (``make reliability``) runs the durations and counts of issue M8.
Each test records its measured figures with the ``figures`` fixture; after the test the
fixture writes them, with the test's outcome, to ``.cache/reliability/<test>.json``, from which
``python -m tests.e2e.reliability.report`` renders docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.e2e.receiver.conftest import sinks  # noqa: F401 - the recording channel endpoints
from tests.integration.exporter.conftest import platform_topics  # noqa: F401 - fresh platform topics
from tests.private_services import ROOT, PrivateKafka
from tests.processes import ServerProcess, start_prometheus

FIGURES_DIR = Path(os.environ.get("RELIABILITY_FIGURES", ROOT / ".cache" / "reliability"))


@dataclass(frozen=True)
class Scale:
    name: str
    kill_cycles: int
    outage_seconds: float
    overload_seconds: float
    channel_down_seconds: float


SCALES = {
    "short": Scale("short", kill_cycles=3, outage_seconds=10, overload_seconds=20, channel_down_seconds=30),
    "full": Scale("full", kill_cycles=10, outage_seconds=60, overload_seconds=120, channel_down_seconds=600),
}


def scale_from(env: dict[str, str]) -> Scale:
    name = env.get("RELIABILITY_SCALE", "short")
    if name not in SCALES:
        raise ValueError(f"RELIABILITY_SCALE={name!r}: expected one of {sorted(SCALES)}")
    return SCALES[name]


@pytest.fixture(scope="session")
def scale() -> Scale:
    return scale_from(dict(os.environ))


@dataclass
class Figures:
    """What one scenario measured: written to FIGURES_DIR with the test's outcome."""

    scenario: str
    criterion: str
    values: dict[str, Any] = field(default_factory=dict)

    def record(self, **values: Any) -> None:
        self.values.update(values)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" or report.failed:
        item.stash.setdefault(OUTCOMES, []).append(report.outcome)
    return report


OUTCOMES = pytest.StashKey[list[str]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest, scale: Scale) -> Iterator[Figures]:
    doc = (request.function.__doc__ or "").strip().split("\n\n")
    recorded = Figures(scenario=" ".join(doc[0].split()), criterion=" ".join(" ".join(doc[1:]).split()))
    started = time.monotonic()
    yield recorded
    outcomes = request.node.stash.get(OUTCOMES, [])
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{request.node.name}.json").write_text(
        json.dumps(
            {
                "test": request.node.nodeid,
                "scenario": recorded.scenario,
                "criterion": recorded.criterion,
                "scale": scale.name,
                "result": "passed" if outcomes and all(o == "passed" for o in outcomes) else "failed",
                "seconds": round(time.monotonic() - started, 1),
                "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "figures": recorded.values,
            },
            indent=2,
        )
        + "\n"
    )


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    workdir = tmp_path / "kafka"
    workdir.mkdir()
    broker = PrivateKafka(workdir)
    broker.start()
    yield broker
    broker.stop()


def prometheus_config(exporter_port: int, job: str = "exporter") -> str:
    """Prometheus scraping one target every second with the shipped rules (job ``exporter``)."""
    rules = ROOT / "prometheus" / "rules"
    return (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{rules / 'recording.yml'}', '{rules / 'alerts.yml'}']\n"
        "scrape_configs:\n"
        f"  - {{job_name: {job}, static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]}}\n"
    )


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a private Prometheus for a target port (and job name); returns its URL."""
    started: list[ServerProcess] = []

    def start(exporter_port: int, job: str = "exporter") -> str:
        port, workdir = services.free_port(), tmp_path / "prometheus"
        workdir.mkdir()
        binary = services.binary("prometheus", "prometheus")
        started.append(start_prometheus(binary, prometheus_config(exporter_port, job), workdir, port))
        return f"http://127.0.0.1:{port}"

    yield start
    for server in started:
        server.stop()


def firing(prometheus_url: str, alertname: str) -> bool:
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=5) as response:  # noqa: S310 - loopback
        alerts = json.load(response)["data"]["alerts"]
    return any(a["labels"]["alertname"] == alertname and a["state"] == "firing" for a in alerts)


PGBIN = Path("/usr/lib/postgresql/15/bin")


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port (as ``postgres`` when running as root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.data.mkdir(mode=0o700)
        self.port = services.free_port()
        self.uri = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(self.root, "postgres", "postgres")
        self._run(str(PGBIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PGBIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start"
        )

    def stop(self) -> None:
        self._run(str(PGBIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.remove()
