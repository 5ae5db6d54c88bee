"""Generic webhook: the notification as JSON, POSTed to one configured URL.

The document: ``version``, ``action``, ``fallback``, ``title``, the message's facts (``summary``,
``description``, ``value``, ``instance``, ``since``, ``lasted``, ``missedDeadline``), ``links``
(``acknowledge``, ``runbook``, ``dashboard``, ``graph``, ``console``: an http(s) URL or null) and
the stored ``alert`` (labels and annotations exactly as received)."""

from __future__ import annotations

from typing import Any

import requests

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.composer import Composer
from receiver.delivery.links import ORDER
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification


def document(n: Notification, m: Message) -> dict[str, Any]:
    alert = n.alert
    incident = {"incident": message.incident_document(n)} if n.incident is not None else {}
    return {
        "version": "1",
        "action": n.action,
        "fallback": n.fallback,
        "title": m.title,
        "summary": m.summary,
        "description": m.description,
        "value": m.value or None,
        "instance": m.instance or None,
        "since": m.since,
        "lasted": m.lasted or None,
        "missedDeadline": m.missed_deadline or None,
        "links": {name: (link.url if (link := m.link(name)) else None) for name in ORDER},
        "alert": {
            "id": alert.id,
            "alertname": alert.alertname,
            "fingerprint": alert.fingerprint,
            "startsAt": alert.starts_at,
            "status": alert.status,
            "priority": alert.priority,
            "service": alert.service,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "generatorURL": alert.generator_url,
        },
        **incident,
    }


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, session: requests.Session, timeout: float, composer: Composer) -> None:
        self._url = url
        self._session = session
        self._timeout = timeout
        self._composer = composer

    def send(self, notification: Notification) -> None:
        body = document(notification, self._composer.message(notification))
        try:
            response = self._session.post(self._url, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"webhook: {type(exc).__name__}", retryable=True) from exc
        check_status(self.name, response.status_code, response.headers.get("Retry-After"))
