"""A real Prometheus scrapes the fake platform services and sees exactly their traffic and health."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from simulator.fake_services import SERVICES, FakeServices
from simulator.scenario import parse_scenario
from tests import services
from tests.processes import start_prometheus

SCENARIO = {
    "seed": 1,
    "profile": {"rate": 100},
    "phases": [
        {"at": 0, "name": "baseline"},
        {"at": 10, "name": "errors", "http_error_ratio": 0.5, "services": ["transaction-service"]},
        {"at": 20, "name": "unhealthy", "health": "unhealthy", "services": ["portfolio-service"]},
        {"at": 30, "name": "down", "health": "down", "services": ["transaction-service"]},
    ],
}


def query(port: int, promql: str) -> dict[str, float]:
    """Instant query; result keyed by the ``service`` or ``instance`` label (or "" when neither)."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    out = {}
    for item in body["data"]["result"]:
        metric = item["metric"]
        out[metric.get("service", metric.get("instance", ""))] = float(item["value"][1])
    return out


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def test_prometheus_scrapes_the_fake_services_traffic_errors_and_outages(tmp_path: Path) -> None:
    fake = FakeServices(parse_scenario(SCENARIO), dict.fromkeys(SERVICES, 0), synthetic_series=500)
    fake.start()
    ports = fake.ports()
    targets = ", ".join(f"'127.0.0.1:{ports[s]}'" for s in SERVICES)
    config = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: platform
    static_configs: [{{targets: [{targets}]}}]
"""
    port = services.free_port()
    prometheus = start_prometheus(services.binary("prometheus", "prometheus"), config, tmp_path, port)
    try:

        def sent(service: str, status: str = "") -> float:
            registry = fake.states[service].registry
            return sum(
                s.value
                for m in registry.collect()
                if m.name == "http_requests"
                for s in m.samples
                if s.name == "http_requests_total" and s.labels["status"].startswith(status)
            )

        def scraped_totals_match() -> bool:
            seen = query(port, "sum by (service) (http_requests_total)")
            return seen == {s: sent(s) for s in SERVICES}

        fake.tick(0, 5)
        assert {s: sent(s) for s in SERVICES} == dict.fromkeys(SERVICES, 500)
        assert wait_for(scraped_totals_match), prometheus.log_tail()
        durations = query(port, "sum by (service) (http_request_duration_seconds_count)")
        assert durations == dict.fromkeys(SERVICES, 500)
        assert query(port, "count(synthetic_series_value)") == {"": 500}
        assert set(query(port, "concurrent_users")) == set(SERVICES)
        baseline_errors = sent("transaction-service", "5")

        fake.tick(10, 5)
        assert wait_for(scraped_totals_match), prometheus.log_tail()
        errors = query(port, 'sum by (service) (http_requests_total{status=~"5.."})')
        assert errors["transaction-service"] == sent("transaction-service", "5")
        assert sent("transaction-service", "5") - baseline_errors > 0.3 * 500
        assert sent("asset-service", "5") < 0.05 * 1000

        fake.tick(20, 1)
        health = {s: requests.get(f"http://127.0.0.1:{ports[s]}/health", timeout=5).status_code for s in SERVICES}
        assert health == {"asset-service": 200, "portfolio-service": 503, "transaction-service": 200}

        fake.tick(30, 1)
        down = f"127.0.0.1:{ports['transaction-service']}"
        assert wait_for(lambda: query(port, 'up{job="platform"}').get(down) == 0.0), prometheus.log_tail()
        assert sorted(query(port, 'up{job="platform"}').values()) == [0.0, 1.0, 1.0]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{down}/health", timeout=5)
    finally:
        prometheus.stop()
        fake.stop()
