"""One page per cause under concurrency: two `monitoring receiver` instances (three gunicorn workers
each) on one PostgreSQL get related alerts at the same moment, in separate webhooks, as Alertmanager
in HA sends them. Exactly one incident, one PagerDuty incident, one SMS; the rest are Slack follow-ups."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.credentials import get_json
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.unit.receiver.fakes import alert, webhook

TOPOLOGY = str(Path(__file__).resolve().parents[3] / "topology" / "platform.yaml")


def related_alerts() -> list[dict[str, Any]]:
    """A Kafka outage as it reaches the receiver: the broker alert and its dependents' symptoms."""
    specs = [
        ("ExporterKafkaDown", "monitoring-exporter", {}),
        ("EventLagHigh", "asset-service", {"source": "asset-service"}),
        ("EventLagHigh", "portfolio-service", {"source": "portfolio-service"}),
        ("EventLagHigh", "transaction-service", {"source": "transaction-service"}),
        ("ConsumerGroupStalled", "kafka", {"group": "portfolio-service", "status": "stall"}),
        ("SyncDelayHigh", "portfolio-service", {"rule": "transaction_completed_updates_portfolio"}),
        ("ErrorBudgetBurn", "asset-service", {}),
        ("ErrorBudgetBurn", "transaction-service", {}),
    ]
    out = []
    for n, (name, service, labels) in enumerate(specs):
        a = alert(name, "critical", service=service, fingerprint=f"{0xC0FFEE00 + n:016x}")
        a["labels"].update(labels)
        out.append(a)
    return out


def post_all_at_once(receivers: list[ReceiverProcess], payloads: list[dict[str, Any]]) -> list[int]:
    """Every payload to every receiver (Alertmanager HA), all threads released together."""
    calls = [(r, p) for p in payloads for r in receivers]
    barrier = threading.Barrier(len(calls))
    statuses: list[int] = []

    def send(receiver: ReceiverProcess, payload: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(receiver.post(payload))

    threads = [threading.Thread(target=send, args=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def titles(sinks: Sinks) -> dict[str, list[str]]:
    return {
        "slack": [r.json()["blocks"][0]["text"]["text"] for r in sinks.slack.received()],
        "sms": [parse_qs(r.body.decode())["Body"][0] for r in sinks.sms.received()],
        "pagerduty": [f"{r.json()['event_action']} {r.json()['dedup_key']}" for r in sinks.pagerduty.received()],
    }


def test_related_alerts_at_once_on_two_receivers_open_one_incident_and_page_once(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    receivers = []
    for name in ("a", "b"):
        env = receiver_env(
            postgres_uri,
            sinks,
            tmp_path,
            RECEIVER_WORKERS="3",
            RECEIVER_TOPOLOGY_FILE=TOPOLOGY,
            RECEIVER_INCIDENT_COOLDOWN="2s",
            RECEIVER_INCIDENT_HOLD="3s",  # the webhooks of one moment land within it, whichever arrives first
        )
        receivers.append(ReceiverProcess(env, tmp_path / f"receiver-{name}.log", int(env["RECEIVER_PORT"])).start())
    try:
        alerts = related_alerts()
        statuses = post_all_at_once(receivers, [webhook(a) for a in alerts])
        assert statuses == [200] * len(alerts) * 2
        wait_until(lambda: len(sinks.slack.received()) >= len(alerts), 60, "the page and the follow-ups in Slack")
        wait_until(lambda: receivers[0].metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
        incidents = get_json(f"{receivers[1].url}/api/v1/incidents", receivers[1].api_key)["incidents"]
        assert [(i["status"], i["alertCount"]) for i in incidents if i["status"] != "merged"] == [("open", 8)]
        [incident] = [i for i in incidents if i["status"] == "open"]
        key = f"incident-{incident['key']}"
        seen = titles(sinks)
        assert seen["pagerduty"] == [f"trigger {key}"]
        assert len(seen["sms"]) == 1
        assert len(seen["slack"]) == len(alerts)
        pages = [t for t in seen["slack"] if "FIRING" in t]
        follow_ups = [t for t in seen["slack"] if t.startswith(f"[CRITICAL] UPDATE: incident {incident['id']} ")]
        assert (len(pages), len(follow_ups)) == (1, len(alerts) - 1), seen["slack"]

        # acknowledged on one instance: PagerDuty's incident once, every alert on both
        ack = receivers[1].post_json(f"/api/v1/incidents/{incident['id']}/ack", {"who": "alice"})
        assert ack["acknowledgedBy"] == "alice"
        wait_until(lambda: len(sinks.pagerduty.received()) == 2, what="the PagerDuty acknowledge")
        alerts_seen = get_json(f"{receivers[0].url}/api/v1/alerts", receivers[0].api_key)["alerts"]
        assert {a["acknowledgedBy"] for a in alerts_seen} == {"alice"}

        # every alert resolves at once, on both instances: one resolve, after the 2 s cool-down
        for a in alerts:
            a.update(status="resolved", endsAt="2026-03-02T09:05:00Z")
        assert post_all_at_once(receivers, [webhook(a) for a in alerts]) == [200] * len(alerts) * 2
        wait_until(lambda: len(sinks.pagerduty.received()) == 3, 30, "the PagerDuty resolve")
        wait_until(lambda: receivers[0].metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
    finally:
        for receiver in receivers:
            receiver.stop()
    assert titles(sinks)["pagerduty"] == [f"trigger {key}", f"acknowledge {key}", f"resolve {key}"]
    assert len(titles(sinks)["sms"]) == 2  # the page and its resolve
