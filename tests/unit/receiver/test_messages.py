"""Channel payloads: escaping, header injection, HTTP status mapping; the channels' configuration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring.settings import ConfigError
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channels import check_status, retry_after_seconds
from receiver.delivery.channels.email import compose
from receiver.delivery.channels.pagerduty import SEVERITY, dedup_key, trigger
from receiver.delivery.channels.slack import blocks
from receiver.delivery.composer import default_composer
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.templates import EMAIL_HTML
from receiver.store.history import AlertRecord

COMPOSER = default_composer()


def record(**overrides: object) -> AlertRecord:
    fields: dict[str, object] = {
        "id": 7,
        "fingerprint": "abc123",
        "starts_at": datetime(2026, 3, 2, 8, 59, tzinfo=UTC).timestamp(),
        "alertname": "HighErrorRate",
        "status": "firing",
        "priority": "critical",
        "priority_defaulted": False,
        "service": "portfolio",
        "labels": {"alertname": "HighErrorRate", "service": "portfolio"},
        "annotations": {"summary": "errors"},
        "generator_url": "http://prometheus/graph",
        "first_seen": 0.0,
        "last_seen": 0.0,
        "resolved_at": None,
        "acked_at": None,
        "acked_by": None,
        "escalations": 0,
    }
    fields.update(overrides)
    return AlertRecord(**fields)  # type: ignore[arg-type]


def test_html_is_escaped_in_the_email_html_part() -> None:
    evil = record(annotations={"summary": "<script>alert(1)</script>"}, labels={"x": "<b>&"})
    html = COMPOSER.render(EMAIL_HTML, COMPOSER.message(Notification(evil, "trigger")))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;&amp;" in html


def test_labels_cannot_inject_email_headers() -> None:
    evil = record(alertname="Boom\r\nBcc: victim@example.com", labels={"alertname": "x\nBcc: v@example.com"})
    n = Notification(evil, "trigger")
    mail = compose(n, COMPOSER.message(n), COMPOSER, "alerts@example.com", ("oncall@example.com",))
    headers = mail.as_string().split("\n\n", 1)[0]
    assert "\nBcc:" not in headers  # no header line of its own
    assert mail["Subject"] == "[CRITICAL] FIRING: Boom Bcc: victim@example.com (portfolio)"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["To"] == "oncall@example.com"


def test_slack_text_cannot_inject_links_or_mentions() -> None:
    evil = record(annotations={"summary": "<!channel> <http://evil|click>"})
    document = blocks(COMPOSER.message(Notification(evil, "trigger")), COMPOSER)
    section = document["blocks"][1]["text"]["text"]
    assert "<!channel>" not in section
    assert "&lt;!channel&gt;" in section


def test_pagerduty_dedup_key_is_stable_per_alert_and_severity_follows_priority() -> None:
    alert = record()
    assert dedup_key(alert) == dedup_key(record(status="resolved", annotations={}))
    assert dedup_key(alert) != dedup_key(record(starts_at=alert.starts_at + 60))
    assert SEVERITY == {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
    n = Notification(record(priority="medium"), "trigger")
    assert trigger(n, COMPOSER.message(n))["payload"]["severity"] == "warning"


def test_http_statuses_map_to_retry_decisions() -> None:
    check_status("x", 202, None)
    with pytest.raises(DeliveryFailed) as rejected:
        check_status("x", 404, None)
    assert rejected.value.retryable is False
    with pytest.raises(DeliveryFailed) as limited:
        check_status("x", 429, "17")
    assert (limited.value.retryable, limited.value.retry_after) == (True, 17.0)
    with pytest.raises(DeliveryFailed) as unavailable:
        check_status("x", 503, None)
    assert unavailable.value.retryable is True


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert retry_after_seconds("30", now) == 30.0
    assert retry_after_seconds("Mon, 02 Mar 2026 09:01:00 GMT", now) == 60.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_secrets_in_the_configuration_are_masked_in_its_repr() -> None:
    config = ReceiverConfig.from_environ(
        {
            "RECEIVER_WEBHOOK_TOKEN": "tok-123456",
            "RECEIVER_PAGERDUTY_ROUTING_KEY": "pdkey-987654",
            "RECEIVER_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/secretpart",
        }
    )
    text = repr(config)
    assert "tok-123456" not in text
    assert "pdkey-987654" not in text
    assert "secretpart" not in text


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RECEIVER_WEBHOOK_USERNAME": "am"}, "RECEIVER_WEBHOOK_PASSWORD"),
        ({"RECEIVER_SMS_ACCOUNT_SID": "AC1"}, "receiver.sms_auth_token"),
        ({"RECEIVER_SMTP_HOST": "mail"}, "RECEIVER_EMAIL_FROM"),
        ({"RECEIVER_PAGERDUTY_EVENTS_URL": "http://events.example"}, "RECEIVER_PAGERDUTY_EVENTS_URL"),
        ({"RECEIVER_EMAIL_TO": "oncall@example.com\r\nBcc: x@example.com"}, "RECEIVER_EMAIL_TO"),
        ({"RECEIVER_DELIVERY": "maybe"}, "RECEIVER_DELIVERY"),
        ({"RECEIVER_EXTERNAL_URL": "javascript:alert(1)"}, "RECEIVER_EXTERNAL_URL"),
        ({"RECEIVER_EXTERNAL_URL": "https://alerts.example.com/?next=x"}, "RECEIVER_EXTERNAL_URL"),
        ({"RECEIVER_GRAFANA_URL": "grafana.example.com"}, "RECEIVER_GRAFANA_URL"),
        ({"RECEIVER_ACK_SECRET": "short"}, "RECEIVER_ACK_SECRET.*at least 32"),
        ({"RECEIVER_ACK_LINK_TTL": "soon"}, "RECEIVER_ACK_LINK_TTL"),
        ({"RECEIVER_TEMPLATE_DIR": "/nonexistent/templates"}, "RECEIVER_TEMPLATE_DIR"),
    ],
)
def test_an_incomplete_or_bad_channel_configuration_fails_fast_naming_it(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        ReceiverConfig.from_environ(env)
