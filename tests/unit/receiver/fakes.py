"""Fakes for the receiver's tests: a settable clock, recording channels, webhook payloads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from receiver.delivery.notification import DeliveryFailed, Notification

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()


@dataclass
class FakeClock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeChannel:
    """Records every notification; raises the queued failures first."""

    name: str
    sent: list[Notification] = field(default_factory=list)
    failures: list[DeliveryFailed] = field(default_factory=list)
    attempts: int = 0
    digests: list[list[Notification]] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)

    def send_digest(self, notifications: Sequence[Notification]) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.digests.append(list(notifications))
        self.sent.extend(notifications)

    def actions(self) -> list[tuple[str, str]]:
        return [(n.alert.alertname, n.action) for n in self.sent]


def fake_channels(*names: str) -> dict[str, FakeChannel]:
    return {
        name: FakeChannel(name) for name in names or ("pagerduty", "slack", "sms", "email", "webhook", "email_digest")
    }


def alert(
    name: str = "HighErrorRate",
    priority: str | None = "critical",
    *,
    status: str = "firing",
    fingerprint: str | None = None,
    starts_at: str = "2026-03-02T08:59:00Z",
    service: str = "portfolio",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    labels = {"alertname": name, "service": service}
    if priority is not None:
        labels["priority"] = priority
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations if annotations is not None else {"summary": f"{name} on {service}"},
        "startsAt": starts_at,
        "endsAt": "2026-03-02T09:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint or hashlib.sha256(f"{name}/{service}".encode()).hexdigest()[:16],
    }


def webhook(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "receiver",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }


def body(*alerts: dict[str, Any]) -> bytes:
    return json.dumps(webhook(*alerts)).encode()
