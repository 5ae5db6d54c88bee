"""Bad bodies against the real receiver app (SQLite): always a 4xx with a message, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.bad_input.strategies import FUZZ, NASTY_TEXT, json_values, nested
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, webhook

URL = "/api/v1/alerts/alertmanager"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Receiver:
    return build_receiver(tmp_path_factory.mktemp("webhook"), {"RECEIVER_MAX_BODY_BYTES": "1048576"})


def post(receiver: Receiver, body: bytes) -> tuple[int, dict[str, Any] | None]:
    response = receiver.client.post(URL, data=body, content_type="application/json")
    return response.status_code, response.get_json(silent=True)


def assert_answered(status: int, document: dict[str, Any] | None) -> None:
    assert status < 500, document
    if status >= 400:
        assert document is not None
        assert isinstance(document.get("error"), str)
        assert document["error"]
        assert "Traceback" not in document["error"]
    else:
        assert status == 200


def changed(path: list[str | int], value: object = None, *, delete: bool = False) -> bytes:
    document: Any = webhook(alert())
    node = document
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(document).encode()


NASTY: list[tuple[str, bytes, str]] = [
    ("empty body", b"", "malformed JSON"),
    ("truncated JSON", json.dumps(webhook(alert())).encode()[:80], "malformed JSON"),
    ("not an object", b"[]", "Expected `object`"),
    ("deep nesting", nested(100_000), "Expected `object`"),
    ("deep nesting in labels", changed(["alerts", 0, "labels"], json.loads(nested(50))), "$.alerts[0].labels"),
    ("version 3", changed(["version"], "3"), "$.version"),
    ("version 5", changed(["version"], "5"), "$.version"),
    ("version as a number", changed(["version"], 4), "$.version"),
    ("no version", changed(["version"], delete=True), "version"),
    ("no alerts", changed(["alerts"], delete=True), "alerts"),
    ("alerts is an object", changed(["alerts"], {}), "$.alerts"),
    ("no fingerprint", changed(["alerts", 0, "fingerprint"], delete=True), "fingerprint"),
    ("fingerprint with a slash", changed(["alerts", 0, "fingerprint"], "../../etc"), "fingerprint"),
    ("status unknown", changed(["alerts", 0, "status"], "exploded"), "$.alerts[0].status"),
    ("a label value is a number", changed(["alerts", 0, "labels", "priority"], 1), "$.alerts[0].labels"),
    ("a label value is null", changed(["alerts", 0, "labels", "service"], None), "$.alerts[0].labels"),
    ("startsAt not a time", changed(["alerts", 0, "startsAt"], "yesterday"), "$.alerts[0].startsAt"),
    ("startsAt without zone", changed(["alerts", 0, "startsAt"], "2026-01-01T00:00:00"), "startsAt"),
    ("startsAt as epoch number", changed(["alerts", 0, "startsAt"], 1700000000), "$.alerts[0].startsAt"),
    ("NaN", json.dumps(webhook(alert())).encode().replace(b'"truncatedAlerts": 0', b'"truncatedAlerts": NaN'), "JSON"),
    (
        "Infinity",
        json.dumps(webhook(alert())).encode().replace(b'"truncatedAlerts": 0', b'"truncatedAlerts": 1e999'),
        "$.truncatedAlerts",
    ),
    ("non-UTF-8", json.dumps(webhook(alert())).encode().replace(b"HighErrorRate", b"High\xffRate"), "UTF-8"),
    ("NUL in a label", changed(["alerts", 0, "labels", "alertname"], "a\x00b"), "NUL"),
    ("a 2 MB body", changed(["alerts", 0, "annotations", "summary"], "x" * 2_000_000), "exceeds"),
]


@pytest.mark.parametrize(("case", "body", "message"), NASTY, ids=[case[0] for case in NASTY])
def test_each_nasty_webhook_body_gets_a_4xx_naming_the_problem(
    receiver: Receiver, case: str, body: bytes, message: str
) -> None:
    status, document = post(receiver, body)
    assert 400 <= status < 500, (status, document)
    assert_answered(status, document)
    assert document is not None
    assert message in document["error"]


@pytest.mark.parametrize("text", NASTY_TEXT, ids=range(len(NASTY_TEXT)))
def test_nasty_label_and_annotation_text_from_far_past_to_far_future_is_stored_not_rejected(
    receiver: Receiver, text: str
) -> None:
    for starts_at in ("1970-01-01T00:00:00Z", "0001-01-02T00:00:00Z", "9999-12-31T23:59:59Z"):
        payload = alert(text[:300], "low", starts_at=starts_at, service=text, annotations={"summary": text})
        status, document = post(receiver, json.dumps(webhook(payload)).encode())
        assert status == 200, document


@FUZZ
@given(body=st.binary(max_size=400))
def test_arbitrary_bytes_never_get_a_5xx(receiver: Receiver, body: bytes) -> None:
    assert_answered(*post(receiver, body))


PATHS: list[list[str | int]] = [
    ["version"],
    ["status"],
    ["receiver"],
    ["alerts"],
    ["groupKey"],
    ["truncatedAlerts"],
    ["groupLabels"],
    ["alerts", 0],
    ["alerts", 0, "status"],
    ["alerts", 0, "labels"],
    ["alerts", 0, "labels", "alertname"],
    ["alerts", 0, "labels", "priority"],
    ["alerts", 0, "annotations"],
    ["alerts", 0, "annotations", "summary"],
    ["alerts", 0, "startsAt"],
    ["alerts", 0, "endsAt"],
    ["alerts", 0, "fingerprint"],
    ["alerts", 0, "generatorURL"],
]
timestamps = st.datetimes().map(lambda d: d.isoformat() + "Z") | st.datetimes().map(lambda d: d.isoformat())


@FUZZ
@given(
    path=st.sampled_from(PATHS),
    value=st.one_of(json_values, timestamps, st.sampled_from(NASTY_TEXT)),
    delete=st.booleans(),
)
def test_a_webhook_with_any_field_changed_or_missing_gets_200_or_a_4xx_with_a_message(
    receiver: Receiver, path: list[str | int], value: object, delete: bool
) -> None:
    assert_answered(*post(receiver, changed(path, value, delete=delete)))
