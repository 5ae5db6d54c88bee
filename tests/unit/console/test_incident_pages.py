"""The console's incident pages: probable cause first, symptoms under it, the timeline, acknowledging."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.console.test_console_pages import csrf_token
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"
TOPOLOGY = str(Path(__file__).resolve().parents[3] / "topology" / "platform.yaml")


@pytest.fixture
def r(tmp_path: Path) -> Receiver:
    return build_receiver(tmp_path, {"RECEIVER_TOPOLOGY_FILE": TOPOLOGY, "RECEIVER_INCIDENT_HOLD": "0"})


def firing(name: str, priority: str, service: str, number: int, summary: str | None = None) -> dict[str, Any]:
    a = alert(name, priority, service=service, fingerprint=f"{number:016x}")
    if summary is not None:
        a["annotations"]["summary"] = summary
    return a


def fire(r: Receiver, *alerts: dict[str, Any]) -> None:
    assert r.client.post(URL, data=body(*alerts)).status_code == 200
    r.worker.drain()


def rows(page: str, table: str) -> list[str]:
    section = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-alert-id="(\d+)"', section)


def test_the_incidents_page_lists_open_incidents_by_probable_cause(r: Receiver) -> None:
    fire(r, firing("EventLagHigh", "high", "asset-service", 1))
    r.clock.advance(10)
    fire(r, firing("ExporterKafkaDown", "critical", "monitoring-exporter", 2))
    fire(r, firing("HostHighCpu", "high", "node", 3))
    page = r.client.get("/console/incidents").get_data(as_text=True)
    open_ = page.split('id="open-incidents"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'data-incident-id="(\d+)"', open_) == ["1", "2"]  # critical first
    assert "ExporterKafkaDown (monitoring-exporter)" in open_
    assert "HostHighCpu (node)" in open_
    assert "EventLagHigh" not in open_  # a symptom now: listed under its incident, not as one


def test_an_incident_page_shows_the_probable_cause_first_then_the_symptoms_and_the_timeline(r: Receiver) -> None:
    fire(r, firing("EventLagHigh", "high", "asset-service", 1, summary="<script>alert(1)</script>"))
    r.clock.advance(10)
    fire(r, firing("ExporterKafkaDown", "critical", "monitoring-exporter", 2))
    fire(r, firing("SyncDelayHigh", "medium", "portfolio-service", 3))
    page = r.client.get("/console/incidents/1").get_data(as_text=True)
    assert page.index('id="alerts-cause"') < page.index('id="alerts-symptom"') < page.index('id="timeline"')
    assert rows(page, "alerts-cause") == ["2"]
    assert rows(page, "alerts-symptom") == ["1", "3"]
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    kinds = re.findall(r'class="timeline-entry" data-kind="(\w+)"', page)
    assert kinds[0] == "opened"
    assert {"joined", "cause", "notified"} <= set(kinds)
    alert_page = r.client.get("/console/alerts/3").get_data(as_text=True)
    assert 'id="alert-incident" href="/console/incidents/1"' in alert_page


def test_acknowledging_an_incident_from_the_console_acknowledges_its_alerts(r: Receiver) -> None:
    fire(
        r,
        firing("ServiceDown", "critical", "transaction-service", 1),
        firing("ServiceDown", "critical", "transaction-service", 2),
    )
    page = r.client.get("/console/incidents/1").get_data(as_text=True)
    forged = r.client.post("/console/incidents/1/ack", data={"csrf_token": "guess", "who": "mallory"})
    assert forged.status_code == 403
    response = r.client.post(
        "/console/incidents/1/ack", data={"csrf_token": csrf_token(page), "who": "alice", "comment": "on it"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/incidents/1?acked=1"
    after = r.client.get("/console/incidents/1?acked=1").get_data(as_text=True)
    assert 'id="ack-notice"' in after
    assert "Acknowledged by alice" in after
    assert 'id="ack-form"' not in after
    alerts = r.client.get("/api/v1/alerts").json["alerts"]  # type: ignore[index]
    assert {a["acknowledgedBy"] for a in alerts} == {"alice"}


def test_an_unknown_incident_is_a_404_page(r: Receiver) -> None:
    response = r.client.get("/console/incidents/42")
    assert response.status_code == 404
    assert "No such incident." in response.get_data(as_text=True)
