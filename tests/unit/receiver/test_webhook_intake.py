"""The webhook endpoint: authentication, size and payload checks, durability, routing."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path

from receiver.config.settings import ReceiverConfig
from receiver.store.database import DatabaseUnavailable, SqliteDatabase
from receiver.store.history import Observation, RecordOutcome
from receiver.store.sql_history import SqlAlertHistory
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, WEBHOOK_TOKEN
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body, webhook

URL = "/api/v1/alerts/alertmanager"
WEBHOOK_AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
AUTH_ENV = {
    "RECEIVER_WEBHOOK_TOKEN": "s3cret-token",
    "RECEIVER_WEBHOOK_USERNAME": "am",
    "RECEIVER_WEBHOOK_PASSWORD": "pw",
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_webhook_without_credentials_is_refused_with_401_and_counted(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, AUTH_ENV)
    response = r.anonymous.post(URL, data=body(alert()), content_type="application/json")
    assert response.status_code == 401
    assert r.metric("receiver_webhooks_rejected_total", reason="unauthorized") == 1
    assert r.client.get("/api/v1/alerts").json == {"alerts": [], "next": None}


def test_wrong_bearer_token_and_wrong_basic_password_are_refused(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, AUTH_ENV)
    for header in ("Bearer wrong", basic("am", "nope"), basic("other", "pw"), "Basic !!!", "Digest x"):
        response = r.client.post(URL, data=body(alert()), headers={"Authorization": header})
        assert response.status_code == 401, header


def test_a_bearer_token_or_basic_auth_is_accepted(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, AUTH_ENV)
    assert (
        r.client.post(URL, data=body(alert("A")), headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    )
    assert r.client.post(URL, data=body(alert("B")), headers={"Authorization": basic("am", "pw")}).status_code == 200
    assert r.metric("receiver_webhooks_received_total") == 2


def test_an_oversized_body_gets_413_from_its_content_length(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_MAX_BODY_BYTES": "1000"})
    big = webhook(*[alert(f"A{i}") for i in range(20)])
    response = r.client.post(URL, data=json.dumps(big).encode(), content_type="application/json")
    assert response.status_code == 413
    assert r.metric("receiver_webhooks_rejected_total", reason="too_large") == 1


def test_an_oversized_body_without_content_length_also_gets_413(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_MAX_BODY_BYTES": "1000"})
    payload = json.dumps(webhook(*[alert(f"A{i}") for i in range(20)])).encode()

    response = r.client.post(
        URL,
        input_stream=io.BytesIO(payload),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


def test_a_bad_payload_gets_400_naming_the_field(receiver: Receiver) -> None:
    broken = webhook(alert())
    broken["alerts"][0]["startsAt"] = "yesterday"
    response = receiver.client.post(URL, data=json.dumps(broken).encode())
    assert response.status_code == 400
    assert response.json is not None
    assert "$.alerts[0].startsAt" in response.json["error"]
    missing = webhook(alert())
    del missing["alerts"][0]["fingerprint"]
    response = receiver.client.post(URL, data=json.dumps(missing).encode())
    assert response.status_code == 400
    assert "fingerprint" in response.json["error"]  # type: ignore[index]
    assert receiver.client.post(URL, data=b"{not json").status_code == 400
    wrong_version = {**webhook(alert()), "version": "3"}
    response = receiver.client.post(URL, data=json.dumps(wrong_version).encode())
    assert response.status_code == 400
    assert "$.version" in response.json["error"]  # type: ignore[index]
    assert receiver.metric("receiver_webhooks_rejected_total", reason="invalid") == 4


class BrokenHistory:
    """A repository whose database is down."""

    def migrate(self) -> int:
        raise DatabaseUnavailable("PostgreSQL unreachable: OperationalError")

    def record(self, observations: Sequence[Observation], now: float) -> RecordOutcome:
        raise DatabaseUnavailable("PostgreSQL unreachable: OperationalError")

    def outbox_stats(self, now: float) -> object:
        raise DatabaseUnavailable("PostgreSQL unreachable: OperationalError")

    def switch_state(self) -> object:
        raise DatabaseUnavailable("PostgreSQL unreachable: OperationalError")


def test_a_storage_failure_answers_503_so_that_alertmanager_retries(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ({"RECEIVER_SQLITE_PATH": str(tmp_path / "a.sqlite3"), **WEBHOOK_ENV})
    app = create_app(config, history=BrokenHistory(), channels={})  # type: ignore[arg-type]
    response = app.test_client().post(URL, data=body(alert()), headers=WEBHOOK_AUTH)
    assert response.status_code == 503
    metrics = app.test_client().get("/metrics").text
    assert 'receiver_webhooks_rejected_total{reason="storage"} 1.0' in metrics
    assert "receiver_database_up 0.0" in metrics


def test_a_firing_alert_is_stored_and_queued_for_exactly_its_priority_channels(receiver: Receiver) -> None:
    response = receiver.client.post(URL, data=body(alert("DiskFull", "critical"), alert("SlowApi", "medium")))
    assert response.status_code == 200
    assert response.json == {"new": 2, "updated": 0, "jobs": 5}
    receiver.worker.drain()
    sent = {name: ch.actions() for name, ch in receiver.channels.items()}
    assert sent == {
        "pagerduty": [("DiskFull", "trigger")],
        "slack": [("DiskFull", "trigger"), ("SlowApi", "trigger")],
        "sms": [("DiskFull", "trigger")],
        "email": [("SlowApi", "trigger")],
        "webhook": [],
        "email_digest": [],
    }


def test_repeats_do_not_re_notify_but_a_change_does(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.clock.advance(3600)
    repeat = receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    assert repeat.json == {"new": 0, "updated": 1, "jobs": 0}
    changed = alert("DiskFull", "high", annotations={"summary": "now 99% full"})
    assert receiver.client.post(URL, data=body(changed)).json == {"new": 0, "updated": 1, "jobs": 2}
    receiver.worker.drain()
    assert receiver.channels["pagerduty"].actions() == [("DiskFull", "trigger"), ("DiskFull", "trigger")]
    listed = receiver.client.get("/api/v1/alerts").json
    assert listed is not None
    assert len(listed["alerts"]) == 1
    assert listed["alerts"][0]["lastSeen"] != listed["alerts"][0]["firstSeen"]


def test_a_missing_or_unknown_priority_is_treated_as_high_and_flagged(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("NoPriority", None), alert("Weird", "urgent!")))
    alerts = receiver.client.get("/api/v1/alerts").json["alerts"]  # type: ignore[index]
    assert {(a["alertname"], a["priority"], a["priorityDefaulted"]) for a in alerts} == {
        ("NoPriority", "high", True),
        ("Weird", "high", True),
    }
    assert receiver.metric("receiver_alerts_priority_defaulted_total") == 2
    receiver.worker.drain()
    assert len(receiver.channels["pagerduty"].sent) == 2
    assert receiver.channels["sms"].sent == []


def test_a_resolve_sends_resolve_notifications_and_records_time_to_resolve(receiver: Receiver) -> None:
    receiver.client.post(URL, data=body(alert("DiskFull", "high")))
    receiver.worker.drain()
    receiver.clock.advance(600)
    receiver.client.post(URL, data=body(alert("DiskFull", "high", status="resolved")))
    receiver.worker.drain()
    assert receiver.channels["pagerduty"].actions() == [("DiskFull", "trigger"), ("DiskFull", "resolve")]
    alert_id = receiver.client.get("/api/v1/alerts").json["alerts"][0]["id"]  # type: ignore[index]
    detail = receiver.client.get(f"/api/v1/alerts/{alert_id}").json
    assert detail is not None
    assert detail["status"] == "resolved"
    assert detail["resolvedAt"] == "2026-03-02T09:30:00Z"  # Alertmanager's endsAt
    assert detail["timeToResolveSeconds"] == 1800.0
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["received", "notified", "notified", "resolved", "notified", "notified"]


class LateDatabase(SqlAlertHistory):
    """SQLite history whose database is unreachable for the first migration attempt."""

    attempts = 0

    def migrate(self, target: int | None = None) -> int:
        self.attempts += 1
        if self.attempts == 1:
            raise DatabaseUnavailable("not yet")
        return super().migrate(target)


def test_a_database_down_at_start_is_migrated_once_it_answers(tmp_path: Path) -> None:
    config = ReceiverConfig.from_environ({"RECEIVER_SQLITE_PATH": str(tmp_path / "a.sqlite3"), **WEBHOOK_ENV})
    history = LateDatabase(SqliteDatabase(tmp_path / "a.sqlite3"))
    app = create_app(config, history=history, channels={})
    assert history.attempts == 1
    response = app.test_client().post(URL, data=body(alert()), headers=WEBHOOK_AUTH)
    assert response.status_code == 200
    assert history.attempts == 2
    app.test_client().get("/healthz")
    assert history.attempts == 2
