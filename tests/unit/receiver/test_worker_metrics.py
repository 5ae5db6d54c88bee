"""One scrape serves every worker's metrics even while a worker's file is still empty."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from receiver.web.worker_metrics import WorkerMetricsCollector


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """Worker 101 counted 3 webhooks; worker 102 has created its file but not sized it yet."""
    written = MmapedDict(str(tmp_path / "counter_101.db"))  # type: ignore[no-untyped-call]
    key = mmap_key("receiver_webhooks", "receiver_webhooks_total", ["status"], ["ok"], "Webhooks.")
    written.write_value(key, 3.0, 0.0)  # type: ignore[no-untyped-call]
    written.close()  # type: ignore[no-untyped-call]
    (tmp_path / "counter_102.db").touch()
    return tmp_path


def test_an_empty_worker_file_is_left_out_and_every_other_worker_is_served(directory: Path) -> None:
    registry = CollectorRegistry()
    WorkerMetricsCollector(registry, path=str(directory))
    text = generate_latest(registry).decode()
    assert 'receiver_webhooks_total{status="ok"} 3.0' in text


def test_prometheus_clients_own_collector_still_fails_the_scrape_on_it(directory: Path) -> None:
    """The upstream bug the collector works around (client_python#1199): when this fails, drop it."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    with pytest.raises(struct.error, match="at least 4 bytes"):
        generate_latest(registry)
