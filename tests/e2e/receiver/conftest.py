"""The receiver as it runs in production: `monitoring receiver` (gunicorn, several workers) on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from receiver.store.api_keys import Role
from tests import services
from tests.credentials import provision_key
from tests.sinks import RecordedRequest, RecordingSink, self_signed_certificate, server_tls

TOKEN = "e2e-webhook-token"


def pagerduty_reply(request: RecordedRequest) -> bytes:
    event = request.json()
    return json.dumps({"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}).encode()


@dataclass
class Sinks:
    slack: RecordingSink
    sms: RecordingSink
    pagerduty: RecordingSink
    webhook: RecordingSink
    ca_file: Path

    def all(self) -> list[RecordingSink]:
        return [self.slack, self.sms, self.pagerduty, self.webhook]


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[Sinks]:
    cert, key = self_signed_certificate(tmp_path)
    made = Sinks(
        slack=RecordingSink(),
        sms=RecordingSink(status=201),
        pagerduty=RecordingSink(status=202, body=pagerduty_reply, tls=server_tls(cert, key)),
        webhook=RecordingSink(),
        ca_file=cert,
    )
    for sink in made.all():
        sink.start()
    yield made
    for sink in made.all():
        sink.stop()


@dataclass
class ReceiverProcess:
    """`monitoring receiver` in its own process group, so that kill -9 takes gunicorn and its workers."""

    env: dict[str, str]
    log_path: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)
    api_key: str = field(default="", repr=False)  # an admin key, provisioned at the first start

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ReceiverProcess:
        if not self.api_key:
            self.api_key = provision_key(self.env, Role.ADMIN)
        self._close_log()
        log = self.log_path.open("ab")
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "receiver"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"receiver exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"receiver not ready:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill_9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close_log()

    def post(self, payload: dict[str, object], token: str = TOKEN) -> int:
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}/api/v1/alerts/alertmanager",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def post_json(self, path: str, body: dict[str, object]) -> Any:
        """POST ``body`` to the API with this instance's admin key; the answer's JSON."""
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:  # noqa: S310 - loopback
            text = response.read().decode()
        total = 0.0
        for match in re.finditer(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE):
            total += float(match.group(1))
        return total


def receiver_env(postgres_uri: str, sinks: Sinks, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_MULTIPROC"))}
    env.update(
        {
            "POSTGRES_URI": postgres_uri,
            "RECEIVER_PORT": str(services.free_port()),
            "RECEIVER_WORKERS": "2",
            "RECEIVER_WEBHOOK_TOKEN": TOKEN,
            "RECEIVER_EGRESS_ALLOW": "127.0.0.1",  # the sinks listen on loopback, denied by default
            "RECEIVER_POLL_INTERVAL": "100ms",
            "RECEIVER_RETRY_BASE": "200ms",
            "RECEIVER_SEND_TIMEOUT": "2s",
            "RECEIVER_SLACK_WEBHOOK_URL": f"{sinks.slack.url}/services/T0/B0/secret",
            "RECEIVER_SMS_API_URL": sinks.sms.url,
            "RECEIVER_SMS_ACCOUNT_SID": "AC0001",
            "RECEIVER_SMS_AUTH_TOKEN": "sms-token",
            "RECEIVER_SMS_FROM": "+15550001",
            "RECEIVER_SMS_TO": "+15550002",
            "RECEIVER_PAGERDUTY_ROUTING_KEY": "pd-routing-key",
            "RECEIVER_PAGERDUTY_EVENTS_URL": sinks.pagerduty.url,
            "RECEIVER_PAGERDUTY_CA_FILE": str(sinks.ca_file),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / f"metrics-{services.free_port()}"),
            "LOG_FORMAT": "json",
            **extra,
        }
    )
    return env


def wait_until(check: object, timeout: float = 30.0, what: str = "condition") -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
