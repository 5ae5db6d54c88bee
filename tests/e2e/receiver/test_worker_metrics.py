"""The receiver under gunicorn serves /metrics while a worker's metrics file is still empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env
from tests.unit.receiver.fakes import alert, webhook


@pytest.mark.parametrize("name", ["counter_999999.db", "histogram_999999.db"])
def test_an_empty_worker_file_does_not_fail_the_scrape(
    postgres_uri: str, sinks: Sinks, tmp_path: Path, name: str
) -> None:
    """A worker creates its file before sizing it, and one killed then leaves it empty for good."""
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_DELIVERY="off")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        assert receiver.post(webhook(alert("BeforeTheEmptyFile", "medium"))) == 200
        (Path(env["PROMETHEUS_MULTIPROC_DIR"]) / name).touch()
        assert receiver.post(webhook(alert("AfterTheEmptyFile", "medium"))) == 200
        # every worker's counts, summed; metric() raises on anything but 200
        assert receiver.metric("receiver_webhooks_received_total") == 2
    finally:
        receiver.stop()
    assert "Exception on /metrics" not in receiver.log_path.read_text()
