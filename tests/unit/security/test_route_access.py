"""Every route against every credential: nothing answers 2xx to a caller whose role is too low.

The walk enumerates ``app.url_map`` (every rule, every method), so a route added later is covered
without editing this test; with the default-deny map it is admin-only until someone opens it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from receiver.store.api_keys import Role
from receiver.web.access import PUBLIC, ROUTES, WEBHOOK, requirement
from tests.credentials import WEBHOOK_TOKEN, create_key, webhook_header
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

CALLERS = ("nobody", "bad-key", "unknown-key", "webhook", "viewer", "operator", "admin")
RANKS = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}


def allowed(caller: str, needed: object) -> bool:
    if needed == PUBLIC:
        return True
    if needed == WEBHOOK:
        return caller == "webhook"
    assert isinstance(needed, Role)
    return caller in RANKS and RANKS[caller].allows(needed)


def concrete(rule: str, alert_id: int) -> str:
    ids = ("alert_id", "incident_id")
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: str(alert_id) if m.group(1) in ids else "x", rule)


@pytest.fixture
def walked(tmp_path: Path) -> tuple[Receiver, dict[str, str]]:
    r = build_receiver(tmp_path)
    assert r.client.post("/api/v1/alerts/alertmanager", data=body(alert("DiskFull", "critical"))).status_code == 200
    viewer, operator, admin = (create_key(r.app, role) for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN))
    key_id = viewer.split(".")[0]
    headers = {
        "nobody": "",
        "bad-key": f"Bearer {key_id}.wrong-secret",
        "unknown-key": "Bearer 0123456789abcdef.wrong-secret",
        "webhook": webhook_header(r.app),
        "viewer": f"Bearer {viewer}",
        "operator": f"Bearer {operator}",
        "admin": f"Bearer {admin}",
    }
    return r, headers


def routes(app: Flask) -> list[tuple[str, str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return found


def test_no_route_answers_2xx_to_a_caller_without_the_role_it_requires(
    walked: tuple[Receiver, dict[str, str]],
) -> None:
    r, headers = walked
    walked_routes = routes(r.app)
    assert len(walked_routes) >= 15
    client = FlaskClient(r.app, r.app.response_class, use_cookies=False)
    for endpoint, method, rule in walked_routes:
        needed = requirement(endpoint)
        for caller in CALLERS:
            sent = {"Authorization": headers[caller]} if headers[caller] else {}
            response = client.open(concrete(rule, 1), method=method, headers=sent, json={})
            if not allowed(caller, needed):
                assert not 200 <= response.status_code < 300, (caller, method, rule, response.status_code)
                assert response.status_code in (401, 403, 303), (caller, method, rule, response.status_code)
            elif needed != PUBLIC:  # let through (the view may still refuse this empty body or a missing CSRF token)
                assert response.status_code not in (401, 303), (caller, method, rule, response.status_code)


def test_the_map_names_only_real_endpoints_and_unlisted_ones_are_admin_only(
    walked: tuple[Receiver, dict[str, str]],
) -> None:
    r, _ = walked
    endpoints = {rule.endpoint for rule in r.app.url_map.iter_rules()}
    assert set(ROUTES) <= endpoints
    assert requirement("a_route_added_tomorrow") == Role.ADMIN
    public = {e for e in endpoints if requirement(e) == PUBLIC}
    assert public == {
        "health.healthz",
        "health.readyz",
        "metrics_endpoint",
        "console.login",
        "console.login_submit",
        "console.logout",
        "ack_links.page",  # the signed, single-use token in the URL authorizes (tests/unit/receiver/test_ack_links.py)
        "ack_links.acknowledge",
        "runbooks.index",
        "runbooks.page",
    }


def test_unknown_key_wrong_secret_revoked_and_missing_key_get_the_same_answer(
    walked: tuple[Receiver, dict[str, str]],
) -> None:
    r, headers = walked
    revoked = create_key(r.app, Role.ADMIN)
    r.client.delete(f"/api/v1/keys/{revoked.split('.')[0]}")
    answers = set()
    for header in (headers["bad-key"], headers["unknown-key"], f"Bearer {revoked}", "Bearer no-dot-at-all", None):
        sent = {} if header is None else {"Authorization": header}
        response = r.anonymous.get("/api/v1/alerts", headers=sent)
        answers.add((response.status_code, response.get_data(as_text=True), response.headers.get("WWW-Authenticate")))
    assert answers == {(401, '{"error":"missing or wrong credentials"}\n', 'Bearer realm="receiver"')}


def test_the_webhook_token_is_not_an_api_key_and_an_api_key_does_not_open_the_webhook(
    walked: tuple[Receiver, dict[str, str]],
) -> None:
    r, headers = walked
    assert r.anonymous.get("/api/v1/alerts", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}).status_code == 401
    admin = {"Authorization": headers["admin"]}
    response = r.anonymous.post("/api/v1/alerts/alertmanager", data=body(alert()), headers=admin)
    assert response.status_code == 401


def test_a_receiver_without_a_webhook_credential_refuses_every_webhook(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_WEBHOOK_TOKEN": ""})
    for header in ("", "Bearer ", "Bearer anything", "Basic Og=="):
        sent = {"Authorization": header} if header else {}
        assert r.anonymous.post("/api/v1/alerts/alertmanager", data=body(alert()), headers=sent).status_code == 401
