"""The consume loop: polls a source in batches, hands each record to a handler, then marks the batch done."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from exporter.records import ConsumedRecord
from exporter.sources import EventSource

log = structlog.get_logger(__name__)


class ConsumeLoop:
    """Owns the consuming thread; ``stop()`` finishes the current batch, commits, and joins it.

    ``tick`` runs after every batch (and every empty poll): the consistency checker uses
    it to expire follow-up expectations.
    """

    def __init__(
        self,
        source: EventSource,
        handle: Callable[[ConsumedRecord], object],
        batch_size: int,
        *,
        tick: Callable[[], None] = lambda: None,
        name: str = "consume-loop",
        poll_timeout: float = 0.5,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_error = on_error
        self._source = source
        self._handle = handle
        self._batch_size = batch_size
        self._tick = tick
        self._poll_timeout = poll_timeout
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        handle = self._handle
        while not self._stopping.is_set():
            try:
                records = self._source.poll(self._batch_size, self._poll_timeout)
                for record in records:
                    handle(record)
                self._source.done(records)
                self._tick()
                self._source.maybe_commit()
            except Exception:  # the loop's edge: a bug, not bad input (that is counted and dead-lettered)
                log.exception("consume_loop_error")
                self._on_error()
                self._stopping.wait(1.0)
        try:
            self._source.close()
        except Exception:  # shutting down: report, nothing else to do
            log.exception("consume_loop_close_error")

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
