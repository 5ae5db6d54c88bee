"""The metrics of every gunicorn worker, merged for one scrape.

prometheus_client's ``MultiProcessCollector`` reads each worker's ``*.db`` file. A worker
creates its file before sizing it, so for a moment the file is empty, and a worker killed in
that moment leaves it empty for good; reading an empty file raises ``struct.error`` and fails
the whole scrape (prometheus/client_python#1199, still open in 0.26). An empty file holds
nothing yet: it is left out, and every other worker's metrics are served.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric


class WorkerMetricsCollector(multiprocess.MultiProcessCollector):
    """``MultiProcessCollector`` that leaves out a worker's file while it is still empty."""

    def __init__(self, registry: CollectorRegistry, path: str) -> None:
        super().__init__(registry, path=path)  # type: ignore[no-untyped-call]
        self._directory = path

    def collect(self) -> Iterable[Metric]:
        files = [f for f in glob.glob(os.path.join(self._directory, "*.db")) if _written(f)]
        return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


def _written(path: str) -> bool:
    """Sized by its worker: a file only grows, so one found empty is left out (and one removed
    meanwhile, by ``mark_process_dead``, too)."""
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:
        return False
