"""Private Kafka and FerretDB instances for tests that stop and restart a service.

The shared services of `make services` must stay up for every other test, so a test that
needs an outage starts its own broker or server on free ports, with its data in the test's
temporary directory, from the binaries `make services` installed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tests import services

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MONITORING_CACHE", ROOT / ".cache"))


class PrivateService:
    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def _launch(self, argv: list[str]) -> None:
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def _wait(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise services.ServiceMissing(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            if ready():
                return
            time.sleep(0.2)
        raise services.ServiceMissing(f"{self.name} not ready after {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None


class PrivateKafka(PrivateService):
    """A single-node KRaft broker from the jars `make services` resolved."""

    def __init__(self, workdir: Path) -> None:
        super().__init__("kafka", workdir)
        self.libs = CACHE / "kafka" / "libs"
        if not (self.libs / ".complete").exists():
            raise services.ServiceMissing(f"Kafka jars missing in {self.libs}: run `make services`")
        self.port, controller = services.free_port(), services.free_port()
        self.brokers = f"127.0.0.1:{self.port}"
        self.config = workdir / "server.properties"
        self.config.write_text(
            "\n".join([
                "process.roles=broker,controller", "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={workdir / 'data'}", "num.partitions=3", "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0",
            ])
        )  # fmt: skip
        self._java = ["java", "-Xms128m", "-Xmx384m", "-cp", f"{self.libs}/*"]
        subprocess.run(
            [*self._java, "kafka.tools.StorageTool", "format", "-t", "p9XlZ1xJQgyqL1bW4AoZ3w", "-c", str(self.config)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        self._launch([*self._java, "kafka.Kafka", str(self.config)])
        self._wait(self._ready, 90)

    def _ready(self) -> bool:
        if not _port_open(self.port):
            return False
        try:
            AdminClient({"bootstrap.servers": self.brokers, "log_level": 0}).list_topics(timeout=2)
        except KafkaException:
            return False
        return True


class PrivateFerretDB(PrivateService):
    def __init__(self, workdir: Path) -> None:
        super().__init__("ferretdb", workdir)
        self.binary = CACHE / "bin" / "ferretdb-v1.24.2"
        if not self.binary.exists():
            raise services.ServiceMissing(f"{self.binary} missing: run `make services`")
        self.port = services.free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        (workdir / "ferretdb").mkdir(exist_ok=True)

    def start(self) -> None:
        self._launch([
            str(self.binary), "--handler=sqlite", f"--sqlite-url=file:{self.workdir / 'ferretdb'}/",
            f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", "--telemetry=disable",
            "--log-level=warn", f"--state-dir={self.workdir / 'ferretdb'}",
        ])  # fmt: skip
        self._wait(self._ready, 30)

    def _ready(self) -> bool:
        return _port_open(self.port)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
