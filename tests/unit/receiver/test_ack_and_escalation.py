"""Acknowledgement, escalation past the deadline, and the history API."""

from __future__ import annotations

from tests.unit.receiver.conftest import Receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"


def only_alert_id(r: Receiver) -> int:
    alerts = r.client.get("/api/v1/alerts").json["alerts"]  # type: ignore[index]
    assert len(alerts) == 1
    return int(alerts[0]["id"])


def test_an_unacknowledged_critical_alert_is_escalated_after_five_minutes(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "critical")))
    receiver.worker.drain()
    receiver.clock.advance(299)
    receiver.worker.drain()
    assert receiver.channels["sms"].actions() == [("DiskFull", "trigger")]
    receiver.clock.advance(1)
    receiver.worker.drain()
    assert receiver.channels["sms"].actions() == [("DiskFull", "trigger"), ("DiskFull", "escalate")]
    assert receiver.channels["slack"].actions() == [("DiskFull", "trigger"), ("DiskFull", "escalate")]
    assert receiver.channels["pagerduty"].actions() == [("DiskFull", "trigger")]
    assert receiver.metric("receiver_escalations_total") == 1
    detail = receiver.client.get(f"/api/v1/alerts/{only_alert_id(receiver)}").json
    assert detail is not None
    assert detail["escalations"] == 1
    assert "escalated" in [e["kind"] for e in detail["timeline"]]


def test_an_acknowledgement_stops_escalation_and_is_in_the_timeline(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "critical")))
    receiver.worker.drain()
    receiver.clock.advance(120)
    alert_id = only_alert_id(receiver)
    response = receiver.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"who": "alice", "comment": "looking"})
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["acknowledgedBy"] == "alice"
    assert response.json["timeToAckSeconds"] == 120.0
    receiver.clock.advance(3600)
    receiver.worker.drain()
    assert receiver.metric("receiver_escalations_total") == 0
    assert len(receiver.channels["sms"].sent) == 1
    timeline = receiver.client.get(f"/api/v1/alerts/{alert_id}").json["timeline"]  # type: ignore[index]
    ack = [e for e in timeline if e["kind"] == "acknowledged"]
    assert ack == [
        {"at": "2026-03-02T09:02:00Z", "kind": "acknowledged", "channel": None, "actor": "alice", "detail": "looking"}
    ]


def test_escalation_repeats_each_deadline_until_acknowledged(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "critical")))
    for _ in range(3):
        receiver.clock.advance(300)
        receiver.worker.drain()
    assert receiver.metric("receiver_escalations_total") == 3
    receiver.client.post(f"/api/v1/alerts/{only_alert_id(receiver)}/ack", json={"who": "bob"})
    receiver.clock.advance(900)
    receiver.worker.drain()
    assert receiver.metric("receiver_escalations_total") == 3


def test_low_priority_alerts_are_never_escalated(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("Housekeeping", "low")))
    receiver.clock.advance(30 * 86400)
    receiver.worker.drain()
    assert receiver.metric("receiver_escalations_total") == 0
    assert receiver.channels["email_digest"].actions() == [("Housekeeping", "trigger")]


def test_ack_of_an_unknown_alert_is_404_and_a_bad_body_is_400(receiver: Receiver) -> None:
    assert receiver.client.post("/api/v1/alerts/999/ack", json={"who": "alice"}).status_code == 404
    receiver.client.post(URL, data=body(alert()))
    alert_id = only_alert_id(receiver)
    assert receiver.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"comment": "no who"}).status_code == 400
    assert receiver.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"who": "a", "comment": 3}).status_code == 400


def test_alerts_are_filtered_by_status_priority_service_and_time_and_paginated(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("A", "critical", service="asset"), alert("B", "low", service="asset")))
    receiver.clock.advance(3600)
    receiver.client.post(URL, data=body(alert("C", "critical", service="portfolio")))
    receiver.client.post(URL, data=body(alert("A", "critical", service="asset", status="resolved")))

    def names(query: str) -> list[str]:
        response = receiver.client.get(f"/api/v1/alerts?{query}")
        assert response.status_code == 200, response.json
        return [a["alertname"] for a in response.json["alerts"]]  # type: ignore[index]

    assert names("") == ["C", "B", "A"]
    assert names("status=firing") == ["C", "B"]
    assert names("priority=critical") == ["C", "A"]
    assert names("service=asset&status=resolved") == ["A"]
    assert names("since=2026-03-02T09:30:00Z") == ["C"]
    assert names("until=2026-03-02T09:30:00Z") == ["B", "A"]
    page = receiver.client.get("/api/v1/alerts?limit=2").json
    assert page is not None
    assert [a["alertname"] for a in page["alerts"]] == ["C", "B"]
    assert names(f"limit=2&after={page['next']}") == ["A"]


def test_bad_query_parameters_get_400_naming_them(receiver: Receiver) -> None:
    for query, word in (("status=open", "status"), ("limit=0", "limit"), ("since=yesterday", "since"), ("x=1", "x")):
        response = receiver.client.get(f"/api/v1/alerts?{query}")
        assert response.status_code == 400
        assert word in response.json["error"]  # type: ignore[index]


def test_acknowledging_a_paged_alert_acknowledges_the_pagerduty_incident_once(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.drain()
    alert_id = only_alert_id(receiver)
    receiver.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"who": "alice"})
    receiver.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"who": "bob"})
    receiver.worker.drain()
    assert receiver.channels["pagerduty"].actions() == [("DiskFull", "trigger"), ("DiskFull", "acknowledge")]
    assert receiver.channels["slack"].actions() == [("DiskFull", "trigger")]
