"""The consume loop: polls a source in batches and hands each record to the processor."""

from __future__ import annotations

import threading

import structlog

from exporter.processor import EventProcessor
from exporter.sources import EventSource

log = structlog.get_logger(__name__)


class ConsumeLoop:
    """Owns the consuming thread; ``stop()`` finishes the current batch and joins it."""

    def __init__(self, source: EventSource, processor: EventProcessor, batch_size: int) -> None:
        self._source = source
        self._processor = processor
        self._batch_size = batch_size
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consume-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for record in self._source.poll(self._batch_size, timeout=0.5):
                    self._processor.process(record)
            except Exception:  # the loop's edge: log, count nothing twice, keep consuming
                log.exception("consume_loop_error")
                self._stopping.wait(1.0)
        self._source.close()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
