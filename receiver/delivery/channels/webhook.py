"""Generic webhook: the alert as JSON, POSTed to one configured URL."""

from __future__ import annotations

from typing import Any

import requests

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.notification import DeliveryFailed, Notification


def document(n: Notification) -> dict[str, Any]:
    alert = n.alert
    incident = {"incident": message.incident_document(n)} if n.incident is not None else {}
    return {
        "version": "1",
        "action": n.action,
        "fallback": n.fallback,
        "title": message.title(n),
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

    def __init__(self, url: str, session: requests.Session, timeout: float) -> None:
        self._url = url
        self._session = session
        self._timeout = timeout

    def send(self, notification: Notification) -> None:
        try:
            response = self._session.post(self._url, json=document(notification), timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"webhook: {type(exc).__name__}", retryable=True) from exc
        check_status(self.name, response.status_code, response.headers.get("Retry-After"))
