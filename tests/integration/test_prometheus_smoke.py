"""Prometheus scrapes a real target and its query API returns the sample."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from exporter.http import HttpServer, create_app
from tests import services
from tests.processes import start_prometheus


def query(port: int, promql: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_a_target_and_answers_queries(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Gauge("smoke_answer", "A value Prometheus must scrape.", registry=registry).set(42)
    target = HttpServer(create_app(registry, ready=lambda: True), "127.0.0.1", 0)
    target.start()
    port = services.free_port()
    config = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: smoke
    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]
"""
    prometheus = start_prometheus(services.binary("prometheus", "prometheus"), config, tmp_path, port)
    try:
        deadline = time.monotonic() + 30
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline and not result:
            result = query(port, 'smoke_answer{job="smoke"}')
            time.sleep(0.5)
        assert result, prometheus.log_tail()
        assert result[0]["value"][1] == "42"  # type: ignore[index]
        assert query(port, 'up{job="smoke"}')[0]["value"][1] == "1"  # type: ignore[index]
    finally:
        prometheus.stop()
        target.stop()
