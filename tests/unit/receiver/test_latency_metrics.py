"""Receiver latency on /metrics: request durations per route template and status, and the intake stages."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body
from tests.unit.receiver.test_admission import hold

URL = "/api/v1/alerts/alertmanager"
REQUESTS = "receiver_http_request_duration_seconds_count"
STAGES = "receiver_webhook_stage_duration_seconds_count"


def requests(r: Receiver, method: str, route: str, status: str) -> float:
    return r.metric(REQUESTS, method=method, route=route, status=status)


def test_a_stored_webhook_is_timed_under_its_route_and_status_and_in_each_intake_stage(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, channels=("slack",))
    assert r.client.post(URL, data=body(alert("A"), alert("B")), content_type="application/json").status_code == 200
    assert requests(r, "POST", URL, "200") == 1
    assert [r.metric(STAGES, stage=s) for s in ("decode", "observe", "store")] == [1, 1, 1]
    assert r.metric("receiver_webhook_stage_duration_seconds_sum", stage="store") > 0
    assert (
        r.metric("receiver_http_request_duration_seconds_bucket", method="POST", route=URL, status="200", le="+Inf")
        == 1
    )


def test_an_invalid_webhook_is_timed_in_decode_only_and_under_its_400(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    assert r.client.post(URL, data=b'{"version": "4"}', content_type="application/json").status_code == 400
    assert requests(r, "POST", URL, "400") == 1
    assert [r.metric(STAGES, stage=s) for s in ("decode", "observe", "store")] == [1, 0, 0]


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/api/v1/alerts/4711", "/api/v1/alerts/<int:alert_id>", "404"),
        ("POST", "/api/v1/alerts/4711/ack", "/api/v1/alerts/<int:alert_id>/ack", "400"),
        ("GET", "/healthz", "/healthz", "200"),
        ("GET", "/no/such/page/4711", "unmatched", "404"),
    ],
)
def test_a_request_counts_under_its_route_template_never_its_path(
    tmp_path: Path, method: str, path: str, route: str, status: str
) -> None:
    r = build_receiver(tmp_path)
    assert str(r.client.open(path, method=method).status_code) == status
    assert requests(r, method, route, status) == 1


def test_ids_in_paths_add_no_series(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    for alert_id in (1, 2, 3):
        r.client.get(f"/api/v1/alerts/{alert_id}")
    routes = [line for line in generate_latest(r.registry).decode().splitlines() if line.startswith(REQUESTS)]
    assert routes == [f'{REQUESTS}{{method="GET",route="/api/v1/alerts/<int:alert_id>",status="404"}} 3.0']


def test_a_webhook_refused_before_flask_counts_under_the_webhook_route(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_MAX_INFLIGHT": "1", "RECEIVER_ADMISSION_WAIT": "50ms"})
    with hold(r.app.extensions["admission"], 1):
        assert r.client.post(URL, data=body(alert()), content_type="application/json").status_code == 503
    unauthorized = r.anonymous.post(URL, data=body(alert()), content_type="application/json")
    assert requests(r, "POST", URL, "503") == 1
    assert (unauthorized.status_code, requests(r, "POST", URL, "401")) == (401, 1)
