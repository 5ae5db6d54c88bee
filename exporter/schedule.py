"""A thread that runs jobs, each on its own interval (business queries, health checks)."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence

import structlog

log = structlog.get_logger(__name__)


class IntervalScheduler:
    """Runs ``job()`` every ``interval`` seconds for each ``(interval, job)``; a slow job delays, never stacks."""

    def __init__(
        self,
        jobs: Sequence[tuple[float, Callable[[], None]]],
        name: str,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_error = on_error
        self._jobs = tuple(jobs)
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        now = self._clock()
        due = [(now, i) for i in range(len(self._jobs))]
        heapq.heapify(due)
        while due:
            at, i = heapq.heappop(due)
            if self._stopping.wait(max(at - self._clock(), 0.0)):
                return
            interval, job = self._jobs[i]
            try:
                job()
            except Exception:  # the scheduler's edge: one failing job must not stop the others
                log.exception("scheduled_job_error", job=i)
                self._on_error()
            heapq.heappush(due, (max(at + interval, self._clock()), i))
