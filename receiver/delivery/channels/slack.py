"""Slack incoming webhook with a Block Kit message."""

from __future__ import annotations

from typing import Any

import requests

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.notification import DeliveryFailed, Notification

SECTION, FIELD, HEADER = message.SLACK_SECTION_LIMIT - 30, message.SLACK_FIELD_LIMIT - 20, message.SLACK_HEADER_LIMIT
_EMOJI = {
    "trigger": ":rotating_light:",
    "resolve": ":white_check_mark:",
    "escalate": ":sos:",
    "update": ":link:",
}


def blocks(n: Notification) -> dict[str, Any]:
    e = message.slack_escape
    alert = n.alert
    fields = [
        {"type": "mrkdwn", "text": f"*Priority*\n{e(alert.priority, FIELD)}"},
        {"type": "mrkdwn", "text": f"*Service*\n{e(alert.service or '-', FIELD)}"},
        {"type": "mrkdwn", "text": f"*Since*\n{e(message.since(n), FIELD)}"},
    ]
    context = [{"type": "mrkdwn", "text": e(" ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())), SECTION)}]
    if n.incident is not None:  # a follow-up names the incident it belongs to
        context.insert(0, {"type": "mrkdwn", "text": e(message.incident_line(n), SECTION)})
    return {
        "text": e(message.title(n)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.truncate(message.title(n), HEADER)}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{_EMOJI.get(n.action, '')} {e(message.summary(n), SECTION)}"},
            },
            {"type": "section", "fields": fields},
            {"type": "context", "elements": context},
        ],
    }


class SlackChannel:
    name = "slack"

    def __init__(self, webhook_url: str, session: requests.Session, timeout: float) -> None:
        self._url = webhook_url
        self._session = session
        self._timeout = timeout

    def send(self, notification: Notification) -> None:
        try:
            response = self._session.post(self._url, json=blocks(notification), timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"slack: {type(exc).__name__}", retryable=True) from exc
        check_status(self.name, response.status_code, response.headers.get("Retry-After"))
