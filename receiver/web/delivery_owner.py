"""The gunicorn master's side of the delivery process: start it, restart it when it dies, signal it.

``monitoring receiver`` runs gunicorn; with ``RECEIVER_DELIVERY=process`` the master's hooks
(``receiver/web/gunicorn_conf.py``) start one delivery process (``python -m
receiver.delivery.process``) once the master is ready, forward SIGHUP to it (a routing-policy
reload), and stop it when the master exits, waiting for the send in flight. A thread in the
master waits for it; when it dies it is started again after a pause that doubles from
``RESTART_DELAY`` up to ``MAX_RESTART_DELAY`` (and starts over after a run of ``STABLE_RUN``).
The process is in the master's process group, so a ``kill -9`` of the group takes it too; if
only the master dies, the delivery process notices its parent is gone and stops by itself.

gunicorn reaps every child it sees exit (``waitpid(-1)``), ours included: a wait that loses that
race learns only that the process is gone (``Popen.wait`` then reports 0), which is all the
restart needs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol


class Log(Protocol):
    """The master's logger (gunicorn's ``server.log``): the owner runs in the master, which imports
    as little as it can, since every module it loads is resident in it for good."""

    def info(self, msg: str, *args: object) -> None: ...

    def error(self, msg: str, *args: object) -> None: ...


COMMAND = (sys.executable, "-m", "receiver.delivery.process")
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_RUN = 60.0  # a process that ran this long died of something new: restart it without delay growth
STOP_TIMEOUT = 30.0


class DeliveryOwner:
    def __init__(
        self,
        command: Sequence[str] = COMMAND,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log: Log | None = None
        self._command = list(command)
        self._env = None if env is None else dict(env)
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._proc is None else self._proc.pid

    def start(self, log: Log) -> None:
        """Start the process and the thread that waits for it (and restarts it)."""
        if self._thread is not None:
            return
        self._log = log
        self._stopping.clear()
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="delivery-owner", daemon=True)
        self._thread.start()

    def reload(self) -> None:
        """Forward a routing-policy reload (SIGHUP) to the running process."""
        with self._lock:
            self._signal(signal.SIGHUP)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then wait up to ``timeout`` (the send in flight finishes), then SIGKILL."""
        with self._lock:  # no restart after this
            self._stopping.set()
            self._signal(signal.SIGTERM)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                with self._lock:
                    self._signal(signal.SIGKILL)
                self._thread.join(5.0)
            self._thread = None

    @property
    def _logger(self) -> Log:
        assert self._log is not None, "started with a logger"
        return self._log

    def _spawn(self) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            # It watches for this process to go away; told which one, it cannot miss a death before it looks.
            command = [*self._command, "--parent", str(os.getpid())]
            self._proc = subprocess.Popen(command, env=self._env, stdin=subprocess.DEVNULL)
            self.starts += 1
            self._logger.info("delivery process started (pid %s)", self._proc.pid)
            return True

    def _signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the process while it runs (the caller holds the lock)."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signum)

    def _watch(self) -> None:
        delay = RESTART_DELAY
        while True:
            with self._lock:
                proc = self._proc
            assert proc is not None
            started = self._clock()
            code = proc.wait()
            if self._stopping.is_set():
                return
            if self._clock() - started >= STABLE_RUN:
                delay = RESTART_DELAY
            self._logger.error(
                "delivery process (pid %s) exited with %s; starting it again in %.0f s", proc.pid, code, delay
            )
            if self._stopping.wait(delay) or not self._spawn():
                return
            delay = min(MAX_RESTART_DELAY, delay * 2)
