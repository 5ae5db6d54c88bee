"""The local stack's children: started in order in their own sessions, waited for, stopped in
reverse order (TERM, then KILL after a grace period)."""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

READY_TIMEOUT = 60.0

STOP_GRACE = 15.0


class StackFailed(Exception):
    """The local stack could not start (missing tools, a child that died or never got ready)."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while starting."""


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Supervisor:
    """Owns the children: starts them in order, waits for readiness, stops them in reverse order."""

    def __init__(self, logs: Path, should_stop: Callable[[], bool]) -> None:
        self._logs = logs
        self._should_stop = should_stop
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        log_path = self._logs / f"{name}.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,  # Ctrl-C reaches only the supervisor, which stops children in order
            preexec_fn=_die_with_parent,  # only the main thread runs while children start
        )
        child = Child(name, proc, log_path, log)
        self.children.append(child)
        return child

    def wait_ready(self, child: Child, url: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check(child)
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback URL
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackFailed(f"{child.name} not ready at {url} after {timeout:.0f}s:\n{child.log_tail()}")

    def wait_log(self, child: Child, pattern: re.Pattern[str], count: int, timeout: float = READY_TIMEOUT) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check(child)
            matches = pattern.findall(child.log_path.read_text(errors="replace"))
            if len(matches) >= count:
                return matches
            time.sleep(0.1)
        raise StackFailed(f"{child.name} printed no ports after {timeout:.0f}s:\n{child.log_tail()}")

    def _check(self, child: Child) -> None:
        if self._should_stop():
            raise Stopped
        if child.proc.poll() is not None:
            raise StackFailed(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop_all(self) -> dict[str, int]:
        """TERM every child (newest first), KILL those still running after the grace period."""
        codes: dict[str, int] = {}
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
                try:
                    child.proc.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait(5)
            codes[child.name] = child.proc.returncode
            child.log.close()
        return codes
