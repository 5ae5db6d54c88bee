"""Every field of Alertmanager's webhook (version 4), as its documentation spells it, reaches the typed payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from receiver.intake.payload import decode_payload

# Alertmanager's documented webhook body (docs/configuration.md, <webhook_config>), every field set.
DOCUMENTED: dict[str, Any] = {
    "version": "4",
    "groupKey": '{}/{priority="critical"}:{alertname="ServiceDown"}',
    "truncatedAlerts": 2,
    "status": "firing",
    "receiver": "pagers",
    "groupLabels": {"alertname": "ServiceDown"},
    "commonLabels": {"alertname": "ServiceDown", "priority": "critical"},
    "commonAnnotations": {"summary": "down"},
    "externalURL": "http://alertmanager.example:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ServiceDown", "priority": "critical"},
            "annotations": {"summary": "down"},
            "startsAt": "2026-03-02T08:59:00.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
            "fingerprint": "a1b2c3d4e5f60708",
        }
    ],
}


@pytest.mark.parametrize(
    ("field", "read", "expected"),
    [
        ("groupKey", lambda p: p.group_key, '{}/{priority="critical"}:{alertname="ServiceDown"}'),
        ("truncatedAlerts", lambda p: p.truncated_alerts, 2),
        ("status", lambda p: p.status, "firing"),
        ("receiver", lambda p: p.receiver, "pagers"),
        ("groupLabels", lambda p: p.group_labels, {"alertname": "ServiceDown"}),
        ("commonLabels", lambda p: p.common_labels, {"alertname": "ServiceDown", "priority": "critical"}),
        ("commonAnnotations", lambda p: p.common_annotations, {"summary": "down"}),
        ("externalURL", lambda p: p.external_url, "http://alertmanager.example:9093"),
        ("alerts[0].status", lambda p: p.alerts[0].status, "firing"),
        ("alerts[0].labels", lambda p: p.alerts[0].labels, {"alertname": "ServiceDown", "priority": "critical"}),
        ("alerts[0].annotations", lambda p: p.alerts[0].annotations, {"summary": "down"}),
        ("alerts[0].startsAt", lambda p: p.alerts[0].starts_at, datetime(2026, 3, 2, 8, 59, 0, 123000, UTC)),
        ("alerts[0].endsAt", lambda p: p.alerts[0].ends_at, datetime(1, 1, 1, tzinfo=UTC)),
        (
            "alerts[0].generatorURL",
            lambda p: p.alerts[0].generator_url,
            "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
        ),
        ("alerts[0].fingerprint", lambda p: p.alerts[0].fingerprint, "a1b2c3d4e5f60708"),
    ],
)
def test_each_documented_field_is_read_under_its_alertmanager_name(field: str, read: Any, expected: object) -> None:
    assert read(decode_payload(json.dumps(DOCUMENTED).encode())) == expected, field


@pytest.mark.parametrize("misspelled", ["generatorUrl", "generator_url"])
def test_a_misspelled_generator_url_is_not_taken_for_alertmanagers(misspelled: str) -> None:
    alert = {k: v for k, v in DOCUMENTED["alerts"][0].items() if k != "generatorURL"}
    body = {**DOCUMENTED, "alerts": [{**alert, misspelled: "http://elsewhere.example/"}]}
    assert decode_payload(json.dumps(body).encode()).alerts[0].generator_url == ""
