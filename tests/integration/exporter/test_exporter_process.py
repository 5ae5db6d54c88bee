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


def test_the_exporter_serves_business_queries_and_health_checks_from_its_yaml_files(
    postgres_uri: str, tmp_path: Path, log_dir: Path
) -> None:
    queries = tmp_path / "queries.yaml"
    queries.write_text(
        "queries:\n"
        "  - {name: platform_portfolios, help: Portfolios., database: postgres, value: n,\n"
        "     sql: 'SELECT count(*)::float8 AS n FROM generate_series(1, 7)', interval: 1s}\n"
    )
    port = free_port()
    checks = tmp_path / "services.yaml"
    checks.write_text(
        "services:\n"
        f"  - {{name: exporter-itself, url: 'http://127.0.0.1:{port}/healthz', interval: 1s}}\n"
        f"  - {{name: nothing-listens, tcp: '127.0.0.1:{free_port()}', interval: 1s, failures_to_down: 1}}\n"
    )
    exporter = ExporterProcess(
        "exporter-business",
        log_dir,
        {
            "EXPORTER_PORT": str(port),
            "POSTGRES_URI": postgres_uri,
            "EXPORTER_QUERIES": str(queries),
            "EXPORTER_HEALTH_CHECKS": str(checks),
            "EXPORTER_INPROCESS_RATE": "100",
        },
    )
    try:
        assert exporter.port == port
        assert wait_for(lambda: value(scrape(exporter.metrics_url), "platform_portfolios") == 7, 15)
        assert wait_for(lambda: value(scrape(exporter.metrics_url), "service_up", service="exporter-itself") == 1, 15)
        samples = scrape(exporter.metrics_url)
        assert value(samples, "service_up", service="nothing-listens") == 0
        assert value(samples, "service_health_transitions_total", service="nothing-listens", state="down") == 1
        assert exporter.status("/readyz") == 200  # in-process events: no Kafka to wait for
    finally:
        exporter.stop()
    assert '"event": "ServiceHealthChanged"' in exporter.log_path.read_text()
