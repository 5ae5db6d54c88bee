"""Slack incoming webhook with a Block Kit message: a header (the title), the message section
(``slack.mrkdwn.j2``: summary, description, value, how long it lasted or which deadline was missed),
the facts as fields, the labels, and link buttons (Acknowledge, Runbook, Dashboard, Graph, Console).

Alert text is Slack-escaped (no mentions, no injected links) and every piece is cut to its Block
Kit limit; a link that is not an http(s) URL is shown as text, never as a button."""

from __future__ import annotations

from typing import Any

import requests

from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.composer import Composer
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.templates import SLACK_BODY

# Block Kit's limits (https://api.slack.com/reference/block-kit/blocks), with a margin for the markup around values.
SECTION, FIELD, HEADER = message.SLACK_SECTION_LIMIT, message.SLACK_FIELD_LIMIT - 20, message.SLACK_HEADER_LIMIT
CONTEXT = 3000  # a context element's text
BUTTON_TEXT, BUTTON_URL = 75, 3000
FALLBACK_TEXT = 3000  # the notification text (Slack accepts 40,000; phones show the first lines)


def blocks(m: Message, composer: Composer) -> dict[str, Any]:
    e = message.slack_escape
    body = message.slack_truncate(composer.render(SLACK_BODY, m).strip(), SECTION) or e(m.summary, SECTION)
    facts = [("Priority", m.priority), ("Service", m.service or "-"), ("Instance", m.instance), ("Since", m.since)]
    fields = [{"type": "mrkdwn", "text": f"*{name}*\n{e(value, FIELD)}"} for name, value in facts if value]
    layout: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.truncate(m.title, HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "section", "fields": fields},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": e(" ".join(f"{k}={v}" for k, v in m.labels), CONTEXT)}],
        },
    ]
    shown_as_text = [f"{k.label}: {k.url}" for k in m.links if not k.clickable or len(k.url) > BUTTON_URL]
    if shown_as_text:  # not web links: visible, escaped, never clickable
        layout.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": e(" · ".join(shown_as_text), CONTEXT)}]}
        )
    buttons = [button(k.name, k.label, k.url) for k in m.links if k.clickable and len(k.url) <= BUTTON_URL]
    if buttons:
        layout.append({"type": "actions", "elements": buttons})
    return {"text": e(m.title, FALLBACK_TEXT), "blocks": layout}


def button(name: str, label: str, url: str) -> dict[str, Any]:
    made: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": message.truncate(label, BUTTON_TEXT)},
        "url": url,
        "action_id": name,  # unique within the message: one button per link
    }
    if name == "acknowledge":
        made["style"] = "primary"
    return made


class SlackChannel:
    name = "slack"

    def __init__(self, webhook_url: str, session: requests.Session, timeout: float, composer: Composer) -> None:
        self._url = webhook_url
        self._session = session
        self._timeout = timeout
        self._composer = composer

    def send(self, notification: Notification) -> None:
        document = blocks(self._composer.message(notification), self._composer)
        try:
            response = self._session.post(self._url, json=document, timeout=self._timeout)
        except requests.RequestException as exc:
            raise DeliveryFailed(f"slack: {type(exc).__name__}", retryable=True) from exc
        check_status(self.name, response.status_code, response.headers.get("Retry-After"))
