"""PagerDuty Events API v2 through the ``pagerduty`` package.

``dedup_key`` is the receiver incident's key when the notification speaks for one (its page,
escalations by priority and by deadline, acknowledgement and resolve are one PagerDuty incident),
else derived from the alert's identity (fingerprint + startsAt), so a resolve closes the incident
its trigger opened. The client's own retry loops are switched off:
the outbox owns retries, backoff and Retry-After.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pagerduty
from httpx2 import Response, TransportError

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.store.history import AlertRecord

SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def dedup_key(alert: AlertRecord) -> str:
    return f"{alert.fingerprint}-{alert.starts_at:.3f}"


def notification_key(n: Notification) -> str:
    return f"incident-{n.incident.key}" if n.incident is not None else dedup_key(n.alert)


class _Rejected(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _EventsClient(pagerduty.EventsApiV2Client):
    """Raises on any unsuccessful status instead of sleeping and retrying inside the call."""

    max_network_attempts = 0

    def postprocess(self, response: Response) -> None:
        if not response.is_success:
            raise _Rejected(response)


class PagerDutyChannel:
    name = "pagerduty"

    def __init__(self, routing_key: str, events_url: str, timeout: float, ca_file: Path | None = None) -> None:
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        self._client = _EventsClient(routing_key, base_url=events_url.rstrip("/"), verify=verify)
        self._client.timeout = max(1, round(timeout))

    def send(self, notification: Notification) -> None:
        key = notification_key(notification)
        try:
            if notification.action in ("resolve", "acknowledge"):
                self._client.send_event(notification.action, dedup_key=key)
            else:
                self._client.send_event(
                    "trigger", dedup_key=key, payload=self.payload(notification), client="monitoring receiver"
                )
        except _Rejected as exc:
            check_status(self.name, exc.response.status_code, exc.response.headers.get("Retry-After"))
        except (pagerduty.Error, TransportError) as exc:
            raise DeliveryFailed(f"pagerduty: {type(exc).__name__}", retryable=True) from exc

    @staticmethod
    def payload(n: Notification) -> dict[str, Any]:
        alert = n.alert
        details: dict[str, Any] = {"labels": alert.labels, "annotations": alert.annotations, "action": n.action}
        if n.incident is not None:
            details["incident"] = message.incident_document(n)
        return {
            "summary": message.title(n)[:1024],
            "source": message.truncate(alert.service or alert.labels.get("instance", "alertmanager"), 255),
            "severity": SEVERITY.get(alert.priority, "error"),
            "component": alert.service or None,
            "custom_details": details,
        }
