"""The single-active consistency consumer's process: started for a leadership term, stopped at its end.

With Kafka, the consistency consumer runs in a worker process of its own
(exporter/consistency_worker.py), which the exporter starts while it holds the consistency lock
(exporter/leadership.py): ``monitoring exporter`` is still the one thing an operator starts and
stops. In the exporter's own process the two consumers shared one interpreter lock: each slowed
the other down, and together they used one core at most (docs/metrics.md, "Profile of the whole
process").

- The worker gets this process's configuration on its stdin, which stays open while this process
  lives: when it ends, however it ends, the worker sees the end of its stdin and exits at once,
  without committing, as if it had been killed with it (what it checked but did not commit is
  read again by the next leader, whose metrics count it).
- ``stop`` (the term ends, or the exporter stops) sends it SIGTERM: it finishes its batch, commits
  and sends its last report.
- A worker that exits on its own is logged, counted in ``monitoring_loop_errors_total{loop=
  "consistency"}`` and started again after 1 s, doubling up to 30 s while it keeps failing.
- Its reports go to ``ConsistencyReports`` (exporter/consistency_reports.py), which serves them.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

import structlog

from exporter import metric_snapshot
from exporter.config import ExporterConfig
from exporter.consistency_reports import ConsistencyReports

log = structlog.get_logger(__name__)

WORKER = (sys.executable, "-m", "exporter.consistency_worker")
RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STEADY_SECONDS = 60.0  # a worker that ran this long failed afresh: its restart waits RESTART_DELAY again


class ConsistencyProcess:
    """Owns the worker process of one leadership term and the thread that starts it and reads its reports."""

    def __init__(
        self,
        config: ExporterConfig,
        reports: ConsistencyReports,
        on_crash: Callable[[], None],
        *,
        command: Sequence[str] = WORKER,
        restart_delay: float = RESTART_DELAY,
    ) -> None:
        self._config = config
        self._reports = reports
        self._on_crash = on_crash
        self._command = list(command)
        self._restart_delay = restart_delay
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consistency-process", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the worker (it finishes its batch and commits) and wait for it."""
        self._stopping.set()
        with self._lock:
            process = self._process
            if process is not None and process.poll() is None:
                process.terminate()
        self._thread.join(timeout)
        if self._thread.is_alive() and process is not None:
            log.warning("consistency_worker_killed", pid=process.pid, after_seconds=timeout)
            process.kill()
            self._thread.join(5.0)

    @property
    def pid(self) -> int | None:
        """The running worker's process id, if one runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _run(self) -> None:
        delay = self._restart_delay
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                code = self._run_worker()
            except Exception:  # the loop's edge: report, count, start a worker again
                log.exception("consistency_process_error")
                code = None
            finally:
                self._reports.worker_ended()
            if self._stopping.is_set():
                break
            if time.monotonic() - started >= STEADY_SECONDS:
                delay = self._restart_delay
            log.error("consistency_worker_exited", code=code, restart_in_seconds=delay)
            self._on_crash()
            self._stopping.wait(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    def _run_worker(self) -> int | None:
        """Start a worker, pass its reports on until it exits; its exit code (None: stopped before it started)."""
        reading, writing = os.pipe()
        with open(reading, "rb") as reports:
            try:
                process = self._spawn(writing)
            finally:
                os.close(writing)  # the worker holds the writing end now: its exit ends our reading
            if process is None:
                return None
            log.info("consistency_worker_started", pid=process.pid)
            assert process.stdin is not None
            try:
                with contextlib.suppress(BrokenPipeError):  # it exited at once; its exit code says more
                    process.stdin.write(pickle.dumps(self._config))
                    process.stdin.flush()  # and left open: its end tells the worker that this process is gone
                while (report := metric_snapshot.read(reports)) is not None:
                    self._reports.receive(report)
            except BaseException:
                process.terminate()
                raise
            finally:
                code = process.wait()
                process.stdin.close()
        return code

    def _spawn(self, report_fd: int) -> subprocess.Popen[bytes] | None:
        with self._lock:  # against ``stop``: a worker started after it would run on
            if self._stopping.is_set():
                return None
            self._process = subprocess.Popen(  # our own interpreter and module, fixed arguments
                [*self._command, "--report-fd", str(report_fd)], stdin=subprocess.PIPE, pass_fds=(report_fd,)
            )
            return self._process
