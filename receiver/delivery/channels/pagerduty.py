"""PagerDuty Events API v2 through the ``pagerduty`` package.

``dedup_key`` is the receiver incident's key when the notification speaks for one (its page,
escalations by priority and by deadline, acknowledgement and resolve are one PagerDuty incident),
else derived from the alert's identity (fingerprint + startsAt), so a resolve closes the incident
its trigger opened. A trigger carries the message's facts in
``custom_details``, its http(s) links in ``links`` (href + text) and the alert's console page as
``client``/``client_url`` ("View in Monitoring receiver"). The client's own retry loops are
switched off: the outbox owns retries, backoff and Retry-After.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pagerduty
from httpx2 import Response, TransportError

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.composer import Composer
from receiver.delivery.links import CONSOLE
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.store.history import AlertRecord

SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
CLIENT = "Monitoring receiver"  # PagerDuty shows "View in <client>" with client_url
SUMMARY_LIMIT, SOURCE_LIMIT = 1024, 255  # Events API v2 payload limits
# An event may be 512 KB at most; alert text is cut well below that (an annotation may be near 1 MiB).
DESCRIPTION_LIMIT, ANNOTATION_LIMIT = 4096, 1024


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

    def __init__(
        self, routing_key: str, events_url: str, timeout: float, composer: Composer, ca_file: Path | None = None
    ) -> None:
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        self._client = _EventsClient(routing_key, base_url=events_url.rstrip("/"), verify=verify)
        self._client.timeout = max(1, round(timeout))
        self._composer = composer

    def send(self, notification: Notification) -> None:
        key = notification_key(notification)
        try:
            if notification.action in ("resolve", "acknowledge"):
                self._client.send_event(notification.action, dedup_key=key)
            else:
                self._client.send_event(
                    "trigger", dedup_key=key, **trigger(notification, self._composer.message(notification))
                )
        except _Rejected as exc:
            check_status(self.name, exc.response.status_code, exc.response.headers.get("Retry-After"))
        except (pagerduty.Error, TransportError) as exc:
            raise DeliveryFailed(f"pagerduty: {type(exc).__name__}", retryable=True) from exc


def trigger(n: Notification, m: Message) -> dict[str, Any]:
    """A trigger event's fields besides ``event_action``, ``routing_key`` and ``dedup_key``."""
    alert = n.alert
    details: dict[str, Any] = {
        "summary": message.truncate(m.summary, DESCRIPTION_LIMIT),
        "description": message.truncate(m.description, DESCRIPTION_LIMIT),
        "value": message.truncate(m.value, ANNOTATION_LIMIT),
        "instance": message.truncate(m.instance, ANNOTATION_LIMIT),
        "since": m.since,
        "missed_deadline": m.missed_deadline,
        "escalations": m.escalations,
        "labels": {k: message.truncate(v, ANNOTATION_LIMIT) for k, v in alert.labels.items()},
        "annotations": {k: message.truncate(v, ANNOTATION_LIMIT) for k, v in alert.annotations.items()},
        "action": n.action,
        "incident": None if n.incident is None else message.incident_document(n),
    }
    fields: dict[str, Any] = {
        "payload": {
            "summary": message.truncate(m.title, SUMMARY_LIMIT),
            "source": message.truncate(alert.service or m.instance or "alertmanager", SOURCE_LIMIT),
            "severity": SEVERITY.get(alert.priority, "error"),
            "component": message.truncate(alert.service, SOURCE_LIMIT) or None,
            "custom_details": {k: v for k, v in details.items() if v not in ("", None)},
        },
        "links": [{"href": k.url, "text": k.label} for k in m.links if k.clickable],
    }
    console = m.link(CONSOLE)
    if console is not None:
        fields["client"], fields["client_url"] = CLIENT, console.url
    return fields
