"""Incidents on the receiver app (SQLite, fake channels, fixed clock, the shipped topology): one page per
incident, follow-ups, escalation, acknowledgement, resolve and reopen, the API and the domain events."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitoring.config_files import ConfigFileError
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channels.pagerduty import notification_key
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"
REPO = Path(__file__).resolve().parents[3]
TOPOLOGY = str(REPO / "topology" / "platform.yaml")
COOLDOWN = 300


def incidents_receiver(tmp_path: Path, **env: str) -> Receiver:
    return build_receiver(
        tmp_path,
        {
            "RECEIVER_TOPOLOGY_FILE": TOPOLOGY,
            "RECEIVER_INCIDENT_COOLDOWN": f"{COOLDOWN}s",
            "RECEIVER_INCIDENT_HOLD": "0",
            **env,
        },
        channels=("pagerduty", "slack", "sms", "email", "webhook", "email_digest"),
    )


@pytest.fixture
def r(tmp_path: Path) -> Receiver:
    return incidents_receiver(tmp_path)


def firing(name: str, priority: str, service: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    """``fingerprint`` names the alert in the test; Alertmanager's is hexadecimal."""
    a = alert(name, priority, service=service, fingerprint=fingerprint.encode().hex()[:16])
    a["labels"].update(labels)
    return a


def resolved(a: dict[str, Any]) -> dict[str, Any]:
    return {**a, "status": "resolved", "endsAt": "2026-03-02T09:00:30Z"}


def post(r: Receiver, *alerts: dict[str, Any]) -> dict[str, Any]:
    response = r.client.post(URL, data=body(*alerts))
    assert response.status_code == 200, response.json
    document = response.json
    assert isinstance(document, dict)
    return document


def sent(r: Receiver, channel: str) -> list[tuple[str, str, int | None]]:
    return [
        (n.alert.alertname, n.action, None if n.incident is None else n.incident.id) for n in r.channels[channel].sent
    ]


def incidents(r: Receiver, **query: str) -> list[dict[str, Any]]:
    response = r.client.get("/api/v1/incidents", query_string=query)
    assert response.status_code == 200, response.json
    return list(response.json["incidents"])  # type: ignore[index]


SCRAPE = firing("ServiceDown", "critical", "transaction-service", "sd-scrape", job="platform", instance="h:9402")
CHECK = firing("ServiceDown", "critical", "transaction-service", "sd-check", job="exporter", instance="h:9108")


def test_two_alerts_on_one_part_page_once_and_the_second_is_a_follow_up_in_slack(r: Receiver) -> None:
    post(r, SCRAPE)
    r.clock.advance(1)
    post(r, CHECK)
    r.worker.drain()
    assert sent(r, "pagerduty") == [("ServiceDown", "trigger", 1)]
    assert sent(r, "sms") == [("ServiceDown", "trigger", 1)]
    assert sent(r, "slack") == [("ServiceDown", "trigger", 1), ("ServiceDown", "update", 1)]
    follow_up = r.channels["slack"].sent[1]
    assert follow_up.alert.fingerprint == CHECK["fingerprint"]
    assert follow_up.incident is not None
    assert (follow_up.incident.title, follow_up.incident.alerts) == ("ServiceDown (transaction-service)", 2)
    [incident] = incidents(r)
    assert (incident["status"], incident["alertCount"], incident["part"]) == ("open", 2, "transaction-service")
    assert r.metric("receiver_incidents_opened_total") == 1
    assert r.metric("receiver_incident_joins_total") == 1


def test_alerts_on_unrelated_parts_at_once_are_two_incidents_and_two_pages(r: Receiver) -> None:
    asset = firing("ServiceDown", "critical", "asset-service", "sd-asset", job="platform")
    post(r, SCRAPE, asset)
    r.worker.drain()
    assert sorted(sent(r, "pagerduty")) == [("ServiceDown", "trigger", 1), ("ServiceDown", "trigger", 2)]
    assert len({notification_key(n) for n in r.channels["pagerduty"].sent}) == 2


def test_a_symptom_of_an_open_incident_is_an_update_and_a_late_cause_becomes_the_probable_cause(r: Receiver) -> None:
    lag = firing("EventLagHigh", "high", "asset-service", "lag-asset", source="asset-service")
    post(r, lag)
    r.worker.drain()
    r.clock.advance(20)
    kafka = firing("ExporterKafkaDown", "critical", "monitoring-exporter", "kafka-down")
    post(r, kafka)
    r.clock.advance(5)
    sync = firing("SyncDelayHigh", "medium", "portfolio-service", "sync")
    post(r, sync)
    r.worker.drain()
    [incident] = incidents(r)
    assert (incident["title"], incident["part"], incident["priority"]) == (
        "ExporterKafkaDown (monitoring-exporter)",
        "kafka",
        "critical",
    )
    # the lag paged (high: PagerDuty and Slack); Kafka's critical alert raised it: SMS and PagerDuty again, one key
    assert sent(r, "pagerduty") == [("EventLagHigh", "trigger", 1), ("ExporterKafkaDown", "trigger", 1)]
    assert sent(r, "sms") == [("ExporterKafkaDown", "trigger", 1)]
    assert len({notification_key(n) for n in r.channels["pagerduty"].sent}) == 1
    assert sent(r, "slack")[-1] == ("SyncDelayHigh", "update", 1)
    assert sent(r, "email") == []  # the medium symptom's own channels are not paged
    detail = r.client.get(f"/api/v1/incidents/{incident['id']}").json
    assert detail is not None
    assert [(a["alertname"], a["role"]) for a in detail["alerts"]] == [
        ("ExporterKafkaDown", "cause"),
        ("EventLagHigh", "symptom"),
        ("SyncDelayHigh", "symptom"),
    ]
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds[:4] == ["opened", "notified", "notified", "joined"]
    assert "cause" in kinds


def test_an_incident_merged_before_its_page_went_out_does_not_page(r: Receiver) -> None:
    post(r, firing("ServiceDown", "critical", "asset-service", "sd-asset", job="platform"))
    r.worker.drain()
    r.clock.advance(3)
    post(r, firing("EventLagHigh", "high", "portfolio-service", "lag-portfolio"))  # its page is still queued
    post(r, firing("ExporterKafkaDown", "critical", "monitoring-exporter", "kafka-down"))
    r.worker.drain()
    titles = [i["title"] for i in incidents(r)]
    assert titles == ["EventLagHigh (portfolio-service)", "ExporterKafkaDown (monitoring-exporter)"]
    assert [i["status"] for i in incidents(r)] == ["merged", "open"]
    assert sent(r, "pagerduty") == [("ServiceDown", "trigger", 1)]
    assert ("EventLagHigh", "update", 1) in sent(r, "slack")


def test_siblings_arriving_just_before_their_dependency_page_once_thanks_to_the_hold(tmp_path: Path) -> None:
    r = incidents_receiver(tmp_path, RECEIVER_INCIDENT_HOLD="2s")
    post(r, firing("EventLagHigh", "critical", "asset-service", "lag-asset"))
    post(r, firing("EventLagHigh", "critical", "transaction-service", "lag-transaction"))
    r.worker.drain()
    assert sent(r, "pagerduty") == []  # held: a related alert may still come
    r.clock.advance(1)
    post(r, firing("ExporterKafkaDown", "critical", "monitoring-exporter", "kafka-down"))
    r.clock.advance(1)
    r.worker.drain()
    assert sent(r, "pagerduty") == [("EventLagHigh", "trigger", 1)]
    assert sent(r, "sms") == [("EventLagHigh", "trigger", 1)]
    assert [(i["status"], i["title"]) for i in incidents(r)] == [
        ("merged", "EventLagHigh (transaction-service)"),
        ("open", "ExporterKafkaDown (monitoring-exporter)"),
    ]


def test_a_higher_priority_alert_escalates_the_same_incident_on_its_channels(r: Receiver) -> None:
    post(r, firing("HighLatency", "high", "transaction-service", "latency"))
    r.worker.drain()
    assert sent(r, "sms") == []
    post(r, SCRAPE)
    post(r, firing("ErrorBudgetBurn", "medium", "transaction-service", "budget"))
    r.worker.drain()
    assert sent(r, "pagerduty") == [("HighLatency", "trigger", 1), ("ServiceDown", "trigger", 1)]
    assert sent(r, "sms") == [("ServiceDown", "trigger", 1)]
    assert len({notification_key(n) for n in r.channels["pagerduty"].sent}) == 1
    assert notification_key(r.channels["pagerduty"].sent[0]).startswith("incident-")
    assert incidents(r)[0]["priority"] == "critical"


def test_acknowledging_an_incident_acknowledges_its_alerts_stops_escalation_and_pagerduty_once(r: Receiver) -> None:
    post(r, SCRAPE, CHECK)
    r.worker.drain()
    r.clock.advance(60)
    response = r.client.post("/api/v1/incidents/1/ack", json={"who": "alice", "comment": "on it"})
    assert response.status_code == 200, response.json
    assert response.json["acknowledgedBy"] == "alice"  # type: ignore[index]
    again = r.client.post("/api/v1/incidents/1/ack", json={"who": "bob"})
    assert again.json["acknowledgedBy"] == "alice"  # type: ignore[index]
    r.clock.advance(3600)
    r.worker.drain()
    assert sent(r, "pagerduty") == [("ServiceDown", "trigger", 1), ("ServiceDown", "acknowledge", 1)]
    assert r.metric("receiver_escalations_total") == 0
    alerts = r.client.get("/api/v1/alerts").json["alerts"]  # type: ignore[index]
    assert {(a["acknowledgedBy"], a["timeToAckSeconds"]) for a in alerts} == {("alice", 60.0)}
    entries = r.client.get("/api/v1/audit", query_string={"action": "alert.acknowledge"}).json["entries"]  # type: ignore[index]
    assert [e["target"] for e in entries] == ["incident:1", "incident:1"]


def test_acknowledging_an_alert_of_an_incident_acknowledges_the_incident(r: Receiver) -> None:
    post(r, SCRAPE, CHECK)
    r.worker.drain()
    alert_id = r.client.get("/api/v1/alerts").json["alerts"][0]["id"]  # type: ignore[index]
    assert r.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"who": "carol"}).status_code == 200
    r.worker.drain()
    assert incidents(r)[0]["acknowledgedBy"] == "carol"
    assert sent(r, "pagerduty").count(("ServiceDown", "acknowledge", 1)) == 1


def test_an_unacknowledged_incident_escalates_once_per_deadline_not_once_per_alert(r: Receiver) -> None:
    post(r, SCRAPE, CHECK)
    r.worker.drain()
    r.clock.advance(300)
    r.worker.drain()
    assert sent(r, "sms") == [("ServiceDown", "trigger", 1), ("ServiceDown", "escalate", 1)]
    r.clock.advance(300)
    r.worker.drain()
    assert r.metric("receiver_escalations_total") == 2
    assert incidents(r)[0]["escalations"] == 2


def test_an_incident_resolves_with_its_last_alert_and_tells_after_the_cool_down(r: Receiver) -> None:
    post(r, SCRAPE, CHECK)
    r.worker.drain()
    r.clock.advance(30)
    post(r, resolved(SCRAPE))
    assert incidents(r)[0]["status"] == "open"
    post(r, resolved(CHECK))
    r.worker.drain()
    assert incidents(r)[0]["status"] == "resolved"
    assert ("ServiceDown", "resolve", 1) not in sent(r, "pagerduty")
    r.clock.advance(COOLDOWN)
    r.worker.drain()
    assert sent(r, "pagerduty") == [("ServiceDown", "trigger", 1), ("ServiceDown", "resolve", 1)]
    assert sent(r, "sms") == [("ServiceDown", "trigger", 1), ("ServiceDown", "resolve", 1)]


def test_an_alert_firing_again_within_the_cool_down_reopens_the_incident_without_a_page(r: Receiver) -> None:
    post(r, SCRAPE)
    r.worker.drain()
    r.clock.advance(30)
    post(r, resolved(SCRAPE))
    r.clock.advance(60)
    flap = {**SCRAPE, "startsAt": "2026-03-02T09:01:30Z"}  # Alertmanager: a new firing, a new startsAt
    post(r, flap)
    r.clock.advance(COOLDOWN - 61)  # past the cancelled resolve's time, before the reopened deadline
    r.worker.drain()
    [incident] = incidents(r)
    assert (incident["status"], incident["reopened"], incident["alertCount"]) == ("open", 1, 2)
    assert sent(r, "pagerduty") == [("ServiceDown", "trigger", 1)]  # neither a resolve nor a new page
    assert sent(r, "slack") == [("ServiceDown", "trigger", 1), ("ServiceDown", "update", 1)]
    timeline = r.client.get("/api/v1/incidents/1").json["timeline"]  # type: ignore[index]
    assert "reopened" in [e["kind"] for e in timeline]


def test_a_reopened_incident_is_no_longer_acknowledged_and_escalates_if_nobody_looks(r: Receiver) -> None:
    post(r, SCRAPE)
    r.worker.drain()
    assert r.client.post("/api/v1/incidents/1/ack", json={"who": "alice"}).status_code == 200
    r.clock.advance(30)
    post(r, resolved(SCRAPE))
    r.clock.advance(60)
    post(r, {**SCRAPE, "startsAt": "2026-03-02T09:01:30Z"})
    [incident] = incidents(r)
    assert (incident["status"], incident["acknowledgedBy"]) == ("open", None)
    r.clock.advance(300)  # critical's deadline
    r.worker.drain()
    assert ("ServiceDown", "escalate", 1) in sent(r, "sms")


def test_after_the_cool_down_the_same_alert_opens_a_new_incident_and_pages(r: Receiver) -> None:
    post(r, SCRAPE)
    r.worker.drain()
    r.clock.advance(30)
    post(r, resolved(SCRAPE))
    r.clock.advance(COOLDOWN + 1)
    r.worker.drain()
    post(r, {**SCRAPE, "startsAt": "2026-03-02T09:06:00Z"})
    r.worker.drain()
    assert [i["status"] for i in incidents(r)] == ["open", "resolved"]
    assert sent(r, "pagerduty") == [
        ("ServiceDown", "trigger", 1),
        ("ServiceDown", "resolve", 1),
        ("ServiceDown", "trigger", 2),
    ]


def test_a_new_firing_replaces_an_episode_whose_resolve_alertmanager_never_sent(r: Receiver) -> None:
    """Alertmanager keeps one alert per label set: a flap inside one group interval replaces the old
    firing with the new one and never notifies the old one's resolve. Left firing, it would hold the
    incident open and swallow the next fault on that part without a page."""
    post(r, SCRAPE)
    r.clock.advance(30)
    post(r, {**SCRAPE, "startsAt": "2026-03-02T09:00:20Z"})  # the same alert, firing again
    r.worker.drain()
    alerts = {a["startsAt"]: a for a in r.client.get("/api/v1/alerts").json["alerts"]}  # type: ignore[index]
    assert alerts["2026-03-02T08:59:00Z"]["status"] == "resolved"
    assert alerts["2026-03-02T08:59:00Z"]["resolvedAt"] == "2026-03-02T09:00:20Z"
    assert alerts["2026-03-02T09:00:20Z"]["status"] == "firing"
    [incident] = incidents(r)
    assert (incident["status"], incident["alertCount"]) == ("open", 2)
    r.clock.advance(30)
    post(r, {**resolved(SCRAPE), "startsAt": "2026-03-02T09:00:20Z"})
    assert incidents(r)[0]["status"] == "resolved"
    r.clock.advance(COOLDOWN + 1)
    r.worker.drain()
    post(r, firing("ConsistencyViolation", "high", "transaction-service", "next-fault"))
    r.worker.drain()
    assert [i["status"] for i in incidents(r)] == ["open", "resolved"]
    assert sent(r, "pagerduty")[-1] == ("ConsistencyViolation", "trigger", 2)


def test_an_alert_matching_no_part_is_its_own_incident_and_is_counted(r: Receiver) -> None:
    post(r, firing("Mystery", "high", "payments", "m1"), firing("Mystery", "high", "payments", "m2"))
    r.worker.drain()
    assert [(i["part"], i["alertCount"]) for i in incidents(r)] == [(None, 1), (None, 1)]
    assert r.metric("receiver_alerts_unmatched_total") == 2
    assert len(sent(r, "pagerduty")) == 2


def test_the_incidents_api_filters_pages_and_refuses_bad_parameters(r: Receiver) -> None:
    post(r, SCRAPE)
    post(r, firing("HostHighCpu", "high", "node", "cpu"))
    assert [i["part"] for i in incidents(r, status="open", priority="high")] == ["host"]
    assert [i["part"] for i in incidents(r, part="transaction-service")] == ["transaction-service"]
    first = r.client.get("/api/v1/incidents", query_string={"limit": "1"}).json
    assert first is not None
    assert [i["id"] for i in first["incidents"]] == [2]
    second = incidents(r, limit="1", after=str(first["next"]))
    assert [i["id"] for i in second] == [1]
    for query, named in [({"status": "firing"}, "status"), ({"colour": "red"}, "colour"), ({"limit": "0"}, "limit")]:
        bad = r.client.get("/api/v1/incidents", query_string=query)
        assert bad.status_code == 400
        assert named in bad.json["error"]  # type: ignore[index]
    assert r.client.get("/api/v1/incidents/99").status_code == 404
    assert r.client.post("/api/v1/incidents/99/ack", json={"who": "x"}).status_code == 404
    assert r.client.post("/api/v1/incidents/1/ack", json={"comment": "no who"}).status_code == 400


def test_incident_domain_events_are_written_with_the_alerts(r: Receiver, tmp_path: Path) -> None:
    post(r, SCRAPE, CHECK)
    r.clock.advance(30)
    post(r, resolved(SCRAPE), resolved(CHECK))
    with sqlite3.connect(tmp_path / "alerts.sqlite3") as db:
        rows = db.execute("SELECT type, aggregate FROM domain_event_outbox ORDER BY seq").fetchall()
    incident = [(t, a) for t, a in rows if t.startswith("Incident")]
    key = incidents(r)[0]["key"]
    assert incident == [("IncidentOpened", key), ("IncidentResolved", key)]


def test_without_a_topology_every_alert_pages_on_its_own(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    post(r, SCRAPE, CHECK)
    r.worker.drain()
    assert [n.incident for n in r.channels["pagerduty"].sent] == [None, None]
    assert incidents(r) == []


def test_a_bad_topology_stops_the_app_and_the_command_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_text("parts:\n  - name: kafka\n  - name: asset\n    depends_on: [kafka, zookeeper]\n")
    env = {"RECEIVER_SQLITE_PATH": str(tmp_path / "a.sqlite3"), "RECEIVER_TOPOLOGY_FILE": str(bad), **WEBHOOK_ENV}
    with pytest.raises(ConfigFileError, match=r"topology.yaml:4: invalid topology: .*unknown part 'zookeeper'"):
        create_app(ReceiverConfig.from_environ(env), channels={})
    command = subprocess.run(
        [sys.executable, "-m", "ops.cli", "receiver"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 2
    assert f"{bad}:4: invalid topology: part 'asset' depends on unknown part 'zookeeper'" in command.stderr
