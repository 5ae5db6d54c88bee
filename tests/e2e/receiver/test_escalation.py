"""Escalation in real time: an unacknowledged alert is re-sent after its deadline; an acknowledgement stops it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.credentials import get_json
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.unit.receiver.fakes import alert, webhook


def test_a_missing_acknowledgement_escalates_and_an_acknowledgement_stops_it(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    policy = tmp_path / "routing.yml"
    policy.write_text("priorities:\n  critical: {ack_deadline: 1s, escalation: [webhook]}\n")
    env = receiver_env(
        postgres_uri, sinks, tmp_path, RECEIVER_ROUTING_FILE=str(policy), RECEIVER_WEBHOOK_URL=f"{sinks.webhook.url}/h"
    )
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()

    def get(url: str) -> Any:
        return get_json(url, receiver.api_key)

    def escalations(alertname: str) -> int:
        [found] = [a for a in get(f"{receiver.url}/api/v1/alerts")["alerts"] if a["alertname"] == alertname]
        return int(found["escalations"])

    try:
        assert receiver.post(webhook(alert("Unanswered", "critical", fingerprint="aaaa0001"))) == 200
        wait_until(lambda: escalations("Unanswered") >= 1, what="an escalation")
        [alert_id] = [a["id"] for a in get(f"{receiver.url}/api/v1/alerts")["alerts"]]
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{receiver.url}/api/v1/alerts/{alert_id}/ack",
            data=json.dumps({"who": "alice", "comment": "on it"}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {receiver.api_key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            assert response.status == 200
        escalated_before_ack = escalations("Unanswered")
        # A second alert is the clock: once it has escalated twice, the first one's deadline has
        # passed again at least once with the delivery loops running.
        assert receiver.post(webhook(alert("Witness", "critical", fingerprint="bbbb0002"))) == 200
        wait_until(lambda: escalations("Witness") >= 2, what="two escalations of the witness")
        assert escalations("Unanswered") == escalated_before_ack
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
        detail = get(f"{receiver.url}/api/v1/alerts/{alert_id}")
    finally:
        receiver.stop()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("escalated") == escalated_before_ack
    assert "acknowledged" in kinds
    assert detail["acknowledgedBy"] == "alice"
    sent = [r.json() for r in sinks.webhook.received()]
    assert [d["alert"]["alertname"] for d in sent if d["action"] == "escalate"].count(
        "Unanswered"
    ) == escalated_before_ack
