"""Alert-controlled text on every channel and the console: escaped or truncated, never evaluated.

The alert's text also fills its links: a ``runbook_url``, ``dashboard_url`` and generator URL made of
the nasty text are never a link unless they are http(s) URLs, and never break out of their field."""

from __future__ import annotations

import io
import json
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.settings import Secret
from receiver.config.settings import NotificationConfig
from receiver.delivery import message
from receiver.delivery.channels import sms
from receiver.delivery.channels.email import compose
from receiver.delivery.channels.file import ConsoleChannel, FileChannel
from receiver.delivery.channels.pagerduty import dedup_key, trigger
from receiver.delivery.channels.slack import blocks
from receiver.delivery.channels.webhook import document
from receiver.delivery.composer import build_composer
from receiver.delivery.notification import Notification
from receiver.delivery.templates import EMAIL_TEXT
from tests.unit.bad_input.strategies import FUZZ, NASTY_TEXT
from tests.unit.receiver.conftest import build_receiver
from tests.unit.receiver.fakes import alert, webhook
from tests.unit.receiver.test_messages import record

SLACK_LIMITS = {"section": 3000, "field": 2000, "header": 150, "context": 3000, "button": 75, "url": 3000}
HEADERS_OF_A_MAIL = {
    "subject",
    "from",
    "to",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "content-type",
    "mime-version",
    "content-transfer-encoding",
}
COMPOSER = build_composer(
    NotificationConfig(
        external_url="https://alerts.example.com",
        grafana_url="https://grafana.example.com",
        ack_secret=Secret("s" * 40),
    ),
    lambda: 1.0e9,
)
OURS = ("https://alerts.example.com/", "https://grafana.example.com/")


def notification(text: str, action: str = "trigger") -> Notification:
    return Notification(
        record(
            alertname=text,
            service=text,
            labels={"alertname": text, "service": text, "instance": text, text[:50] or "k": text},
            annotations={
                "summary": text,
                "description": text,
                "value": text,
                "runbook_url": text,
                "dashboard_url": f"/d/{text}",
            },
            generator_url=f"javascript:{text}",
        ),
        action,
        ack_deadline=300.0,
    )


def check_links(n: Notification) -> None:
    """Clickable links are the receiver's own or http(s) URLs exactly as the alert gave them."""
    for link in COMPOSER.message(n).links:
        if link.clickable:
            assert link.url.startswith(("http://", "https://")), link
            assert link.url.startswith(OURS) or link.url == n.alert.annotations["runbook_url"].strip(), link
            assert " " not in link.url
            assert all(ch.isprintable() for ch in link.url)


def check_slack(n: Notification) -> None:
    body = blocks(COMPOSER.message(n), COMPOSER)
    json.dumps(body)  # serialisable
    header, section, fields, context, *rest = body["blocks"]
    assert len(header["text"]["text"]) <= SLACK_LIMITS["header"]
    assert len(section["text"]["text"]) <= SLACK_LIMITS["section"]
    assert 0 < len(fields["fields"]) <= 10
    assert all(len(f["text"]) <= SLACK_LIMITS["field"] for f in fields["fields"])
    assert len(context["elements"][0]["text"]) <= SLACK_LIMITS["context"]
    texts = [context["elements"][0]["text"]]
    for block in rest:
        if block["type"] == "context":  # links that are not web links, as text
            assert len(block["elements"][0]["text"]) <= SLACK_LIMITS["context"]
            texts.append(block["elements"][0]["text"])
        else:
            assert block["type"] == "actions"
            assert len(block["elements"]) <= 25
            assert len({b["action_id"] for b in block["elements"]}) == len(block["elements"])
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= SLACK_LIMITS["button"]
                assert len(button["url"]) <= SLACK_LIMITS["url"]
                assert button["url"].startswith(("http://", "https://"))
    for text in (body["text"], section["text"]["text"], *texts):
        assert "<" not in text
        assert ">" not in text
        lowered = text.lower()
        assert "@channel" not in lowered
        assert "@here" not in lowered
        assert "@everyone" not in lowered
        assert "&" not in text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")


def check_email(n: Notification) -> None:
    mail = compose(n, COMPOSER.message(n), COMPOSER, "alerts@example.com", ("ops@example.com",))
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert {key.lower() for key in parsed} <= HEADERS_OF_A_MAIL  # CRLF injected no Bcc or other header
    assert parsed["To"] == "ops@example.com"
    subject = str(parsed["Subject"])
    assert "\n" not in subject
    assert "\r" not in subject
    assert len(subject) <= message.TITLE_LIMIT
    html_part = parsed.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert "<script" not in html.lower()
    assert 'href="javascript' not in html
    assert all(href.startswith(("http://", "https://")) for href in re.findall(r'href="([^"]*)"', html))


def check_text_channels(n: Notification, tmp_path: Path) -> None:
    m = COMPOSER.message(n)
    line = sms.text(m, COMPOSER)
    assert len(line) <= message.SMS_LIMIT
    assert line.isprintable()
    assert line.endswith(f" https://alerts.example.com/console/alerts/{n.alert.id}")
    event = trigger(n, m)
    assert len(event["payload"]["summary"]) <= 1024
    assert len(json.dumps(event)) < 64 * 1024  # the Events API takes 512 KB at most
    assert len(event["payload"]["source"]) <= 255
    assert len(dedup_key(n.alert)) <= 255
    assert all(link["href"].startswith(("http://", "https://")) for link in event["links"])
    assert event["client_url"] == f"https://alerts.example.com/console/alerts/{n.alert.id}"
    webhook = json.loads(json.dumps(document(n, m)))
    assert webhook["alert"]["labels"] == n.alert.labels  # carried exactly, as data
    assert all(url is None or url.startswith(("http://", "https://")) for url in webhook["links"].values())
    out = io.StringIO()
    ConsoleChannel(COMPOSER, out).send(n)
    printed = out.getvalue()
    assert printed.count("\n") == 1
    assert printed[:-1].isprintable()
    path = tmp_path / "notifications.jsonl"
    FileChannel(path, lambda: 1.0, COMPOSER).send(n)
    *_, last = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(last)["alert"]["annotations"] == n.alert.annotations


@pytest.mark.parametrize("text", NASTY_TEXT, ids=range(len(NASTY_TEXT)))
@pytest.mark.parametrize("action", ["trigger", "resolve", "escalate"])
def test_nasty_alert_text_is_safe_on_every_channel(tmp_path: Path, text: str, action: str) -> None:
    n = notification(text, action)
    check_links(n)
    check_slack(n)
    check_email(n)
    check_text_channels(n, tmp_path)


def test_slack_neutralises_mentions_and_escapes_control_characters() -> None:
    text = message.slack_escape("<!channel> @here & <https://x|y> @Channel")
    assert text == "&lt;!channel&gt; @\u200bhere &amp; &lt;https://x|y&gt; @\u200bChannel"


def test_truncation_never_cuts_a_slack_entity_in_half() -> None:
    for size in range(2990, 3001):
        text = message.slack_escape("a" * size + "&&&&&&", 3000)
        assert len(text) <= 3000
        assert text.endswith("…")
        assert not re.search(r"&[a-z]*$", text[:-1])


def test_template_syntax_in_alert_text_is_shown_not_evaluated() -> None:
    n = notification("{{ 7*7 }} ${title} $summary {% if 1 %}x{% endif %}")
    m = COMPOSER.message(n)
    text = COMPOSER.render(EMAIL_TEXT, m)
    assert "{{ 7*7 }} ${title} $summary {% if 1 %}x{% endif %}" in text
    assert "49" not in text
    mail = compose(n, m, COMPOSER, "alerts@example.com", ("ops@example.com",))
    html_part = mail.get_body(("html",))
    assert html_part is not None
    assert "{{ 7*7 }} ${title}" in html_part.get_content()


def test_the_console_pages_escape_alert_text(tmp_path: Path) -> None:
    receiver = build_receiver(tmp_path)
    evil = "<script>alert(1)</script> {{ 7*7 }}"
    payload = alert(evil, "critical", service=evil, annotations={"summary": evil, "description": "x" * 20_000})
    assert receiver.client.post("/api/v1/alerts/alertmanager", data=json.dumps(webhook(payload))).status_code == 200
    for url in ("/console/", "/console/history?window=all", "/console/alerts/1"):
        page = receiver.client.get(url)
        assert page.status_code == 200, url
        body = page.text
        assert "<script>alert(1)</script>" not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}" in body, url
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]


@FUZZ
@given(text=st.text(max_size=400), action=st.sampled_from(["trigger", "resolve", "escalate", "acknowledge"]))
def test_any_alert_text_renders_safely_on_every_channel(
    tmp_path_factory: pytest.TempPathFactory, text: str, action: str
) -> None:
    n = notification(text, action)
    check_links(n)
    check_slack(n)
    check_email(n)
    check_text_channels(n, tmp_path_factory.getbasetemp())
