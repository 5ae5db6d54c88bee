"""The exporter process while Kafka cannot be reached: alive, serving, not ready."""

from __future__ import annotations

from pathlib import Path

from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import scrape, value, wait_for
from tests.services import free_port


def test_readiness_is_false_while_kafka_is_unreachable_but_metrics_keep_serving(log_dir: Path) -> None:
    exporter = ExporterProcess(
        "exporter-no-kafka",
        log_dir,
        {"KAFKA_BROKERS": f"127.0.0.1:{free_port()}", "EXPORTER_LAG_INTERVAL": "1s", "EXPORTER_CONSISTENCY": "off"},
    )
    try:
        assert exporter.status("/healthz") == 200
        assert exporter.status("/readyz") == 503
        assert wait_for(lambda: value(scrape(exporter.metrics_url), "monitoring_consumer_groups_up") == 0, 15)
        samples = scrape(exporter.metrics_url)
        assert value(samples, "monitoring_kafka_up") == 0
        assert exporter.status("/readyz") == 503
    finally:
        exporter.stop()
    assert exporter.proc.returncode == 0, exporter.log_tail()
