"""Health checks against a local HTTP endpoint and TCP ports: damping, JSON conditions, transitions."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from exporter.health_checks import HealthChecker, ServiceCheck, load_checks
from monitoring.settings import ConfigError
from tests.services import free_port


class Endpoint:
    """A /health endpoint whose status and JSON body the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: object = {"status": "UP"}
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                payload = json.dumps(endpoint.body).encode()
                self.send_response(endpoint.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.server.shutdown()
    e.server.server_close()


def samples(registry: CollectorRegistry, service: str) -> tuple[float | None, float, float]:
    up = registry.get_sample_value("service_up", {"service": service})
    to_up = registry.get_sample_value("service_health_transitions_total", {"service": service, "state": "up"}) or 0
    to_down = registry.get_sample_value("service_health_transitions_total", {"service": service, "state": "down"}) or 0
    return up, to_up, to_down


def test_state_changes_are_damped_and_each_transition_is_recorded(endpoint: Endpoint) -> None:
    check = ServiceCheck(name="asset-service", url=endpoint.url, failures_to_down=3, successes_to_up=2)
    checker = HealthChecker([check], requests.Session())
    registry = CollectorRegistry()
    registry.register(checker)
    assert samples(registry, "asset-service") == (None, 0, 0)  # unknown before the first check

    checker.check_once(check)
    assert samples(registry, "asset-service") == (1.0, 1, 0)
    endpoint.status = 503
    checker.check_once(check)
    checker.check_once(check)
    assert samples(registry, "asset-service") == (1.0, 1, 0)  # two failures: still up
    checker.check_once(check)
    assert samples(registry, "asset-service") == (0.0, 1, 1)
    endpoint.status = 200
    checker.check_once(check)
    assert samples(registry, "asset-service") == (0.0, 1, 1)  # one success: still down
    checker.check_once(check)
    assert samples(registry, "asset-service") == (1.0, 2, 1)
    assert [(r.previous, r.current) for r in checker.records] == [("unknown", "up"), ("up", "down"), ("down", "up")]
    assert "status 503, expected 200" in checker.records[1].reason
    assert (registry.get_sample_value("service_health_check_seconds", {"service": "asset-service"}) or 0) > 0


def test_a_json_body_condition_must_hold(endpoint: Endpoint) -> None:
    check = ServiceCheck(name="s", url=endpoint.url, json_path="db.status", json_equals="UP", failures_to_down=1)
    checker = HealthChecker([check], requests.Session())
    endpoint.body = {"db": {"status": "UP"}}
    checker.check_once(check)
    endpoint.body = {"db": {"status": "DEGRADED"}}
    checker.check_once(check)
    assert [r.current for r in checker.records] == ["up", "down"]
    assert "db.status is 'DEGRADED', expected 'UP'" in checker.records[-1].reason


def test_tcp_checks_connect_to_the_address() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        checks = [
            ServiceCheck(name="open", tcp=f"127.0.0.1:{open_port}"),
            ServiceCheck(name="closed", tcp=f"127.0.0.1:{free_port()}", timeout="1s"),
        ]
        checker = HealthChecker(checks, requests.Session())
        registry = CollectorRegistry()
        registry.register(checker)
        for check in checks:
            checker.check_once(check)
    assert registry.get_sample_value("service_up", {"service": "open"}) == 1.0
    assert registry.get_sample_value("service_up", {"service": "closed"}) == 0.0


def test_the_services_file_is_validated_naming_the_service(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text("services:\n  - {name: a, url: 'http://127.0.0.1:1/h', interval: 5s}\n")
    (check,) = load_checks(path)
    assert check.interval_seconds == 5.0
    path.write_text("services:\n  - {name: both, url: 'http://x/h', tcp: 'x:1'}\n")
    with pytest.raises(ConfigError, match="'both': needs exactly one of url or tcp"):
        load_checks(path)
