"""Acknowledgements, escalations, key changes and reloads leave audit entries that admins read through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from receiver.store.api_keys import Role
from tests.credentials import create_key
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"


def audit(r: Receiver, **params: str) -> list[dict[str, Any]]:
    response = r.client.get("/api/v1/audit", query_string=params)
    assert response.status_code == 200, response.json
    assert response.json is not None
    entries: list[dict[str, Any]] = response.json["entries"]
    return entries


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_acknowledgement_is_audited_with_the_key_the_address_and_the_outcome(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, channels=("slack",))
    r.client.post(URL, data=body(alert("DiskFull", "critical")))
    operator = create_key(r.app, Role.OPERATOR)
    response = r.anonymous.post(
        "/api/v1/alerts/1/ack", json={"who": "alice", "comment": "on it"}, headers=bearer(operator)
    )
    assert response.status_code == 200
    missing = r.anonymous.post("/api/v1/alerts/99/ack", json={"who": "alice"}, headers=bearer(operator))
    assert missing.status_code == 404
    entries = audit(r, action="alert.acknowledge")
    assert [(e["actor"], e["target"], e["source"], e["outcome"]) for e in entries] == [
        (operator.split(".")[0], "alert:99", "127.0.0.1", "failed"),
        (operator.split(".")[0], "alert:1", "127.0.0.1", "success"),
    ]
    assert entries[1]["detail"] == "as alice: on it"
    assert entries[1]["at"].endswith("Z")


def test_a_viewer_cannot_acknowledge_and_the_refusal_is_audited(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    r.client.post(URL, data=body(alert("DiskFull", "critical")))
    viewer = create_key(r.app, Role.VIEWER)
    response = r.anonymous.post("/api/v1/alerts/1/ack", json={"who": "mallory"}, headers=bearer(viewer))
    assert response.status_code == 403
    [denied] = audit(r, outcome="denied")
    assert (denied["actor"], denied["target"], denied["detail"]) == (
        viewer.split(".")[0],
        "/api/v1/alerts/1/ack",
        "role viewer, needs operator",
    )
    assert r.client.get("/api/v1/alerts/1").json["acknowledgedBy"] is None  # type: ignore[index]


def test_an_escalation_is_audited_as_the_systems_change(tmp_path: Path) -> None:
    policy = tmp_path / "routing.yaml"
    policy.write_text("priorities:\n  critical: {ack_deadline: 60s, escalation: [slack]}\n")
    r = build_receiver(tmp_path, {"RECEIVER_ROUTING_FILE": str(policy)}, channels=("slack", "pagerduty", "sms"))
    r.client.post(URL, data=body(alert("DiskFull", "critical")))
    r.clock.advance(61)
    assert r.worker.escalate_due() == 1
    [entry] = audit(r, action="alert.escalate")
    assert (entry["actor"], entry["target"], entry["source"], entry["outcome"]) == (
        "system",
        "alert:1",
        "worker",
        "success",
    )


def test_admins_create_list_and_revoke_keys_and_each_change_is_audited(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    created = r.client.post("/api/v1/keys", json={"name": "grafana", "role": "viewer"})
    assert created.status_code == 201
    assert created.json is not None
    token, key_id = created.json["token"], created.json["id"]
    assert r.anonymous.get("/api/v1/alerts", headers=bearer(token)).status_code == 200
    listed = r.client.get("/api/v1/keys").json
    assert listed is not None
    [grafana] = [k for k in listed["keys"] if k["id"] == key_id]
    assert (grafana["name"], grafana["role"], grafana["revokedAt"]) == ("grafana", "viewer", None)
    assert all("token" not in k and "hash" not in k for k in listed["keys"])
    assert r.client.delete(f"/api/v1/keys/{key_id}").status_code == 200
    assert r.client.delete(f"/api/v1/keys/{key_id}").status_code == 404
    assert r.anonymous.get("/api/v1/alerts", headers=bearer(token)).status_code == 401
    actions = [(e["action"], e["target"]) for e in audit(r) if e["target"] == f"key:{key_id}"]
    assert actions == [("key.revoke", f"key:{key_id}"), ("key.create", f"key:{key_id}")]
    assert r.client.post("/api/v1/keys", json={"name": "x", "role": "root"}).status_code == 400


def test_an_operator_cannot_manage_keys_or_read_the_audit_log(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    operator = bearer(create_key(r.app, Role.OPERATOR))
    assert r.anonymous.post("/api/v1/keys", json={"name": "x", "role": "admin"}, headers=operator).status_code == 403
    assert r.anonymous.get("/api/v1/audit", headers=operator).status_code == 403
    assert r.anonymous.post("/api/v1/config/reload", headers=operator).status_code == 403


def test_a_reload_applies_the_new_routing_policy_and_a_broken_file_keeps_the_old_one(tmp_path: Path) -> None:
    policy = tmp_path / "routing.yaml"
    policy.write_text("priorities:\n  low: {channels: [slack]}\n")
    r = build_receiver(tmp_path, {"RECEIVER_ROUTING_FILE": str(policy)}, channels=("slack", "sms"))
    assert r.client.post(URL, data=body(alert("A", "low"))).json == {"new": 1, "updated": 0, "jobs": 1}
    policy.write_text("priorities:\n  low: {channels: [slack, sms]}\n")
    assert r.client.post("/api/v1/config/reload").status_code == 200
    assert r.client.post(URL, data=body(alert("B", "low"))).json == {"new": 1, "updated": 0, "jobs": 2}
    policy.write_text("priorities:\n  low: {channels: [carrier-pigeon]}\n")
    refused = r.client.post("/api/v1/config/reload")
    assert refused.status_code == 400
    assert r.client.post(URL, data=body(alert("C", "low"))).json == {"new": 1, "updated": 0, "jobs": 2}
    assert [e["outcome"] for e in audit(r, action="config.reload")] == ["failed", "success"]


def test_the_audit_api_filters_pages_and_rejects_unknown_parameters(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    for n in range(3):
        r.client.post("/api/v1/keys", json={"name": f"k{n}", "role": "viewer"})
    first = r.client.get("/api/v1/audit", query_string={"action": "key.create", "limit": "2"}).json
    assert first is not None
    assert len(first["entries"]) == 2
    rest = audit(r, action="key.create", after=str(first["next"]))
    assert len(rest) == 2  # the third key, and the admin key the test client was given
    assert r.client.get("/api/v1/audit", query_string={"who": "x"}).status_code == 400
    assert r.client.get("/api/v1/audit", query_string={"outcome": "maybe"}).status_code == 400


def test_the_console_asks_for_a_key_and_keeps_it_in_a_strict_http_only_cookie(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    viewer = create_key(r.app, Role.VIEWER)
    page = r.anonymous.get("/console/")
    assert page.status_code == 303
    assert page.headers["Location"].startswith("/console/login")
    refused = r.anonymous.post("/console/login", data={"key": "nope.nope", "next": "/console/history"})
    assert refused.status_code == 303
    assert "failed=1" in refused.headers["Location"]
    browser = r.anonymous
    signed_in = browser.post("/console/login", data={"key": viewer, "next": "https://evil.example/"})
    assert signed_in.headers["Location"] == "/console/"  # never an open redirect
    cookie = signed_in.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/console"):
        assert attribute in cookie
    assert browser.get("/console/").status_code == 200
    assert browser.get("/api/v1/alerts").status_code == 401  # the cookie is the console's only
    browser.post("/console/logout")
    assert browser.get("/console/").status_code == 303
