"""One-click acknowledge: the signed token, and the page whose button acknowledges.

The app runs on SQLite with fake channels and a fixed clock; links are made with the app's own
key (``app.extensions["ack_links"]``), as the delivery worker makes them for each notification.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from receiver.delivery.ack_links import EXPIRED, INVALID, SALT, AckLinkRefused, AckLinks
from receiver.store.api_keys import Role
from receiver.store.audit import AuditFilter
from receiver.web.access import CONSOLE_KEY_COOKIE
from receiver.web.console import CSRF_COOKIE
from tests.credentials import create_key
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import FakeClock, alert, body

SECRET = "a-signing-key-of-at-least-32-characters"
TTL = 600.0
ENV = {
    "RECEIVER_EXTERNAL_URL": "https://alerts.example.com",
    "RECEIVER_ACK_SECRET": SECRET,
    "RECEIVER_ACK_LINK_TTL": "10m",
}


# --- the token ---


def test_a_token_names_its_alert_and_is_unique_per_link() -> None:
    links = AckLinks(SECRET, TTL, FakeClock())
    first, second = links.token(42), links.token(42)
    assert first != second
    assert (links.verify(first).alert_id, links.verify(second).alert_id) == (42, 42)
    assert links.verify(first).token_id != links.verify(second).token_id
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", first)  # URL-safe: a path segment as it is
    assert len(first) < 120


def test_a_token_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    links = AckLinks(SECRET, TTL, clock)
    token = links.token(42)
    clock.advance(TTL)
    assert links.verify(token).alert_id == 42
    clock.advance(1.5)
    with pytest.raises(AckLinkRefused) as refused:
        links.verify(token)
    assert refused.value.reason == EXPIRED


def flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: flip(t, 3),  # the payload (its alert id or link id)
        lambda t: flip(t, len(t) - 3),  # the signature
        lambda t: flip(t, t.index(".") + 2),  # the timestamp
        lambda t: t[:-1],
        lambda t: t.replace(".", ""),
        lambda t: "",
        lambda t: "x" * 600,
        lambda t: URLSafeTimedSerializer("another-key-another-key-another-key", salt=SALT).dumps({"a": 7, "j": "x"}),
        lambda t: URLSafeTimedSerializer(SECRET, salt="other-purpose").dumps({"a": 7, "j": "x"}),
        lambda t: URLSafeTimedSerializer(SECRET, salt=SALT).dumps({"a": "7", "j": "x"}),
        lambda t: URLSafeTimedSerializer(SECRET, salt=SALT).dumps([7]),
    ],
    ids=[
        "payload", "signature", "timestamp", "truncated", "no separators", "empty", "too long",
        "another key", "another salt", "id not a number", "not a mapping",
    ],
)  # fmt: skip
def test_a_tampered_or_foreign_token_is_invalid(tamper: object) -> None:
    links = AckLinks(SECRET, TTL, time.time)  # the foreign tokens are signed now
    assert callable(tamper)
    with pytest.raises(AckLinkRefused) as refused:
        links.verify(tamper(links.token(7)))
    assert refused.value.reason == INVALID


# --- the page and its button ---


@pytest.fixture
def r(tmp_path: Path) -> Receiver:
    receiver = build_receiver(tmp_path, env=ENV)
    assert (
        receiver.client.post("/api/v1/alerts/alertmanager", data=body(alert("DiskFull", "critical"))).status_code == 200
    )
    receiver.worker.drain()  # paged: PagerDuty, Slack, SMS
    return receiver


def link(r: Receiver, alert_id: int = 1) -> str:
    links: AckLinks = r.app.extensions["ack_links"]
    return f"/console/ack/{links.token(alert_id)}"


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def open_and_press(client: FlaskClient, url: str, **form: str) -> tuple[int, str]:
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    pressed = client.post(url, data={"csrf_token": csrf(page.get_data(as_text=True)), **form})
    return pressed.status_code, pressed.get_data(as_text=True)


def acknowledgements(r: Receiver) -> list[tuple[str | None, str]]:
    document = r.client.get("/api/v1/alerts/1").json
    assert document is not None
    return [(e["actor"], e["detail"]) for e in document["timeline"] if e["kind"] == "acknowledged"]


def test_opening_the_link_shows_the_alert_and_a_button_and_changes_nothing(r: Receiver) -> None:
    client = r.anonymous  # no API key: the link is the credential
    url = link(r)
    for _ in range(3):  # chat unfurlers and mail scanners open links too
        page = client.get(url)
        assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "DiskFull" in text
    assert 'id="ack-button"' in text
    assert 'id="ack-who"' in text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "same-origin"  # the token in the URL never leaves the site
    assert client.get_cookie(CSRF_COOKIE, path="/console") is not None
    assert acknowledgements(r) == []
    assert r.client.get("/api/v1/alerts/1").json["acknowledgedAt"] is None  # type: ignore[index]


def test_the_button_acknowledges_as_the_typed_name_and_acknowledges_pagerduty(r: Receiver) -> None:
    status, text = open_and_press(r.anonymous, link(r), who="  alice\r\n", comment="looking")
    assert status == 200
    assert 'id="ack-done"' in text
    assert "Acknowledged by alice" in text
    assert acknowledgements(r) == [("alice", "via the acknowledge link: looking")]
    document = r.client.get("/api/v1/alerts/1").json
    assert document["acknowledgedBy"] == "alice"  # type: ignore[index]
    [entry] = r.app.extensions["audit_log"].entries(AuditFilter(action="alert.acknowledge"))
    assert (entry.actor, entry.target, entry.outcome) == ("ack-link", "alert:1", "success")
    assert entry.detail == "as alice: via the acknowledge link: looking"
    r.worker.drain()
    assert r.channels["pagerduty"].actions()[-1] == ("DiskFull", "acknowledge")
    assert r.metric("receiver_ack_links_acknowledged_total") == 1
    r.clock.advance(3600)
    r.worker.drain()
    assert [a for _, a in r.channels["sms"].actions()] == ["trigger"]  # no escalation after the acknowledgement


def test_a_signed_in_operator_acknowledges_as_the_keys_owner(r: Receiver) -> None:
    key = create_key(r.app, Role.VIEWER, name="bob")  # the link authorizes; the key only says who
    client = r.anonymous
    client.set_cookie(CONSOLE_KEY_COOKIE, key, path="/console")
    url = link(r)
    assert 'As <b id="ack-as">bob-viewer</b>' in client.get(url).get_data(as_text=True)
    status, _ = open_and_press(client, url, who="someone else")
    assert status == 200
    assert acknowledgements(r) == [("bob-viewer", "via the acknowledge link")]
    [entry] = r.app.extensions["audit_log"].entries(AuditFilter(action="alert.acknowledge"))
    assert entry.actor == key.split(".")[0]


def test_a_used_link_is_refused_clearly_changes_nothing_and_is_counted(r: Receiver) -> None:
    url = link(r)
    client = r.anonymous
    page = client.get(url).get_data(as_text=True)
    assert client.post(url, data={"csrf_token": csrf(page), "who": "alice"}).status_code == 200
    again = client.post(url, data={"csrf_token": csrf(page), "who": "mallory"})
    assert again.status_code == 409
    assert "used already, by alice" in again.get_data(as_text=True)
    assert 'data-reason="replayed"' in again.get_data(as_text=True)
    reopened = client.get(url)
    assert reopened.status_code == 409
    assert 'id="ack-button"' not in reopened.get_data(as_text=True)
    assert acknowledgements(r) == [("alice", "via the acknowledge link")]
    assert r.metric("receiver_ack_links_refused_total", reason="replayed") == 2
    [failed] = r.app.extensions["audit_log"].entries(AuditFilter(action="alert.acknowledge", outcome="failed"))
    assert (failed.actor, failed.target) == ("ack-link", "alert:1")
    assert failed.detail.startswith("This link was used already, by alice.")


def test_an_expired_link_is_refused_clearly_and_counted(r: Receiver) -> None:
    url = link(r)
    client = r.anonymous
    token = csrf(client.get(url).get_data(as_text=True))
    r.clock.advance(TTL + 2)
    for response in (client.get(url), client.post(url, data={"csrf_token": token, "who": "alice"})):
        assert response.status_code == 410
        assert "the link has expired" in response.get_data(as_text=True)
    assert acknowledgements(r) == []
    assert r.metric("receiver_ack_links_refused_total", reason="expired") == 2


def test_a_tampered_link_is_refused_clearly_and_counted(r: Receiver) -> None:
    url = link(r)
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    payload, rest = url.removeprefix("/console/ack/").split(".", 1)
    assert json.loads(base64_decode(payload))["a"] == 1
    other_alert = f"/console/ack/{base64_encode(json.dumps({'a': 2, 'j': 'x'}).encode()).decode()}.{rest}"
    client = r.anonymous
    for bad in (forged, other_alert, "/console/ack/not-a-token"):
        response = client.get(bad)
        assert response.status_code == 400, bad
        assert "not valid" in response.get_data(as_text=True)
    assert r.metric("receiver_ack_links_refused_total", reason="invalid") == 3
    assert acknowledgements(r) == []


def test_a_link_to_an_alert_that_is_gone_is_refused(r: Receiver) -> None:
    response = r.anonymous.get(link(r, alert_id=999))
    assert response.status_code == 404
    assert r.metric("receiver_ack_links_refused_total", reason="unknown_alert") == 1


@pytest.mark.parametrize(
    ("cookie", "form_token", "origin"),
    [(False, "", None), (True, "guessed", None), (True, None, "https://evil.example")],
    ids=["no CSRF cookie", "wrong form token", "another site"],
)
def test_a_forged_form_is_refused_and_leaves_the_link_usable(
    r: Receiver, cookie: bool, form_token: str | None, origin: str | None
) -> None:
    url = link(r)
    client = FlaskClient(r.app, r.app.response_class, use_cookies=cookie)
    page = client.get(url).get_data(as_text=True)
    headers = {"Origin": origin} if origin else {}
    data = {"csrf_token": csrf(page) if form_token is None else form_token, "who": "mallory"}
    refused = client.post(url, data=data, headers=headers)
    assert refused.status_code == 403
    assert acknowledgements(r) == []
    assert open_and_press(r.anonymous, url, who="alice")[0] == 200  # the link was not used up


def test_the_receivers_public_url_is_a_same_site_origin(r: Receiver) -> None:
    url = link(r)
    client = r.anonymous
    page = client.get(url).get_data(as_text=True)
    pressed = client.post(
        url, data={"csrf_token": csrf(page), "who": "alice"}, headers={"Origin": "https://alerts.example.com"}
    )
    assert pressed.status_code == 200


@pytest.mark.parametrize("who", ["", "   ", "\r\n", "x" * 101])
def test_a_missing_or_overlong_name_is_asked_for_again(r: Receiver, who: str) -> None:
    status, text = open_and_press(r.anonymous, link(r), who=who)
    assert status == 400
    assert "Type your name" in text
    assert acknowledgements(r) == []


def test_without_a_signing_key_every_link_is_refused(tmp_path: Path) -> None:
    bare = build_receiver(tmp_path, env={"RECEIVER_EXTERNAL_URL": "https://alerts.example.com"})
    assert bare.app.extensions["ack_links"] is None
    forged = AckLinks(SECRET, TTL, FakeClock()).token(1)
    response = bare.anonymous.get(f"/console/ack/{forged}")
    assert response.status_code == 400
    assert "not enabled" in response.get_data(as_text=True)
