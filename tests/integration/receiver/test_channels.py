"""Each channel against a local server speaking its API: recording HTTP sinks and a real SMTP server."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from prometheus_client import CollectorRegistry

from monitoring.settings import Secret
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import NotificationConfig, SmsConfig, SmtpConfig
from receiver.delivery.channels.email import EmailChannel
from receiver.delivery.channels.email_digest import EmailDigestChannel
from receiver.delivery.channels.pagerduty import PagerDutyChannel, dedup_key
from receiver.delivery.channels.slack import SlackChannel
from receiver.delivery.channels.sms import SmsChannel
from receiver.delivery.channels.webhook import WebhookChannel
from receiver.delivery.composer import build_composer
from receiver.delivery.message import SMS_LIMIT
from receiver.delivery.metrics import DeliveryMetrics
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.outbox import Backoff, DeliveryWorker
from receiver.store.database import SqliteDatabase
from receiver.store.history import AlertRecord, Observation
from receiver.store.sql_history import SqlAlertHistory
from tests import services
from tests.sinks import RecordedRequest, RecordingSink, Reply, self_signed_certificate, server_tls


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
        "labels": {"alertname": "HighErrorRate", "service": "portfolio", "priority": "critical"},
        "annotations": {"summary": "5% of requests <fail>"},
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


def pagerduty_reply(request: RecordedRequest) -> bytes:
    """Events API v2: 202 with status, message and the dedup_key."""
    event = request.json()
    return json.dumps(
        {"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key", "new")}
    ).encode()


RECEIVER, GRAFANA = "https://alerts.example.com", "https://grafana.example.com"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
COMPOSER = build_composer(
    NotificationConfig(external_url=RECEIVER, grafana_url=GRAFANA, ack_secret=Secret("k" * 40), ack_link_ttl=3600),
    lambda: NOW,
)
LINKED = {  # what the shipped rules put in an alert's annotations (Prometheus rendered the runbook base)
    "summary": "5% of requests <fail>",
    "description": "portfolio answers 5xx to 5% of requests @here",
    "runbook_url": f"{RECEIVER}/runbooks/higherrorrate",
    "dashboard_url": "/d/system-status/system-status?viewPanel=15&var-service=portfolio",
}
DASHBOARD = (
    f"{GRAFANA}/d/system-status/system-status?viewPanel=15&var-service=portfolio"
    f"&from={int((record().starts_at - 3600) * 1000)}&to=now"
)


def linked(**overrides: object) -> AlertRecord:
    fields: dict[str, object] = {"annotations": LINKED, "labels": {**record().labels, "instance": "10.0.0.7:8080"}}
    return record(**{**fields, **overrides})


def ack_alert_id(url: str) -> int:
    """The alert an acknowledge link names, checked with the receiver's own key (it is valid now)."""
    ack_links = COMPOSER.ack_links
    assert ack_links is not None
    assert url.startswith(f"{RECEIVER}/console/ack/")
    return ack_links.verify(url.rsplit("/", 1)[1]).alert_id


def test_slack_receives_a_block_kit_message_with_the_description_and_link_buttons(sink: RecordingSink) -> None:
    SlackChannel(f"{sink.url}/services/T0/B0/x", requests.Session(), 5, COMPOSER).send(
        Notification(linked(), "trigger")
    )
    [request] = sink.received()
    document = request.json()
    assert request.path == "/services/T0/B0/x"
    assert request.headers["Content-Type"] == "application/json"
    assert [b["type"] for b in document["blocks"]] == ["header", "section", "section", "context", "actions"]
    header, section, fields, labels, actions = document["blocks"]
    assert document["text"] == "[CRITICAL] FIRING: HighErrorRate (portfolio)"
    assert header["text"] == {"type": "plain_text", "text": "[CRITICAL] FIRING: HighErrorRate (portfolio)"}
    assert section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"] == (
        ":rotating_light: *5% of requests &lt;fail&gt;*\nportfolio answers 5xx to 5% of requests @\u200bhere"
    )
    assert [f["text"] for f in fields["fields"]] == [
        "*Priority*\ncritical",
        "*Service*\nportfolio",
        "*Instance*\n10.0.0.7:8080",
        "*Since*\n2026-03-02 08:59:00 UTC",
    ]
    assert labels["elements"][0]["text"] == (
        "alertname=HighErrorRate instance=10.0.0.7:8080 priority=critical service=portfolio"
    )
    buttons = actions["elements"]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("acknowledge", "Acknowledge"),
        ("runbook", "Runbook"),
        ("dashboard", "Dashboard"),
        ("graph", "Graph"),
        ("console", "Console"),
    ]
    assert buttons[0]["style"] == "primary"
    assert ack_alert_id(buttons[0]["url"]) == 7
    assert [b["url"] for b in buttons[1:]] == [
        f"{RECEIVER}/runbooks/higherrorrate",
        DASHBOARD,
        "http://prometheus/graph",
        f"{RECEIVER}/console/alerts/7",
    ]


def test_sms_posts_one_line_and_the_console_link_to_twilio_with_basic_auth(sink: RecordingSink) -> None:
    config = SmsConfig(sink.url, "AC123", Secret("token-xyz"), "+15550001", "+15550002")
    sink.status = 201
    long = linked(annotations={**LINKED, "summary": "x" * 5000})
    SmsChannel(config, requests.Session(), 5, COMPOSER).send(Notification(linked(), "trigger"))
    SmsChannel(config, requests.Session(), 5, COMPOSER).send(Notification(long, "trigger"))
    short, cut = sink.received()
    assert short.path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert short.headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:token-xyz").decode()
    form = parse_qs(short.body.decode())
    assert form["From"] == ["+15550001"]
    assert form["To"] == ["+15550002"]
    assert form["Body"] == [
        f"[CRITICAL] FIRING: HighErrorRate (portfolio): 5% of requests <fail> {RECEIVER}/console/alerts/7"
    ]
    [body] = parse_qs(cut.body.decode())["Body"]
    assert len(body) == SMS_LIMIT
    assert body.endswith(f"… {RECEIVER}/console/alerts/7")


@dataclass(frozen=True)
class PagerDutySink:
    sink: RecordingSink
    ca_file: Path


@pytest.fixture
def pagerduty_sink(tmp_path: Path) -> Iterator[PagerDutySink]:
    """The Events API v2 over HTTPS (the pagerduty package refuses http://) with a test CA."""
    cert, key = self_signed_certificate(tmp_path)
    sink = RecordingSink(status=202, body=pagerduty_reply, tls=server_tls(cert, key))
    sink.start()
    yield PagerDutySink(sink, cert)
    sink.stop()


def test_pagerduty_trigger_carries_links_and_the_console_and_shares_the_dedup_key(
    pagerduty_sink: PagerDutySink,
) -> None:
    sink = pagerduty_sink.sink
    channel = PagerDutyChannel("routing-key-1", sink.url, 5, COMPOSER, ca_file=pagerduty_sink.ca_file)
    channel.send(Notification(linked(), "trigger"))
    channel.send(Notification(linked(), "acknowledge"))
    channel.send(Notification(linked(status="resolved"), "resolve"))
    trigger, acknowledge, resolve = (r.json() for r in sink.received())
    assert {r.path for r in sink.received()} == {"/v2/enqueue"}
    assert trigger["event_action"] == "trigger"
    assert trigger["routing_key"] == "routing-key-1"
    payload = trigger["payload"]
    assert payload["summary"] == "[CRITICAL] FIRING: HighErrorRate (portfolio)"
    assert (payload["severity"], payload["source"], payload["component"]) == ("critical", "portfolio", "portfolio")
    assert payload["custom_details"]["description"] == LINKED["description"]
    assert payload["custom_details"]["instance"] == "10.0.0.7:8080"
    assert payload["custom_details"]["since"] == "2026-03-02 08:59:00 UTC"
    assert payload["custom_details"]["annotations"] == LINKED
    assert [link["text"] for link in trigger["links"]] == ["Acknowledge", "Runbook", "Dashboard", "Graph", "Console"]
    assert ack_alert_id(trigger["links"][0]["href"]) == 7
    assert [link["href"] for link in trigger["links"][1:]] == [
        f"{RECEIVER}/runbooks/higherrorrate",
        DASHBOARD,
        "http://prometheus/graph",
        f"{RECEIVER}/console/alerts/7",
    ]
    assert (trigger["client"], trigger["client_url"]) == ("Monitoring receiver", f"{RECEIVER}/console/alerts/7")
    assert acknowledge["event_action"] == "acknowledge"
    assert resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == acknowledge["dedup_key"] == resolve["dedup_key"] == dedup_key(record())


def test_pagerduty_429_is_reported_with_retry_after_and_not_retried_inside_the_client(
    pagerduty_sink: PagerDutySink,
) -> None:
    sink = pagerduty_sink.sink
    sink.script = [Reply(429, {"Retry-After": "7"})]
    channel = PagerDutyChannel("routing-key-1", sink.url, 5, COMPOSER, ca_file=pagerduty_sink.ca_file)
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(Notification(record(), "trigger"))
    assert (failed.value.retryable, failed.value.retry_after) == (True, 7.0)
    assert len(sink.received()) == 1
    sink.script = [Reply(400, {}, b'{"status":"invalid event"}')]
    with pytest.raises(DeliveryFailed) as rejected:
        channel.send(Notification(record(), "trigger"))
    assert rejected.value.retryable is False


def test_the_generic_webhook_gets_the_message_and_its_links_as_json_and_5xx_is_retryable(sink: RecordingSink) -> None:
    channel = WebhookChannel(f"{sink.url}/hook", requests.Session(), 5, COMPOSER)
    channel.send(Notification(linked(escalations=2), "escalate", ack_deadline=300))
    document = sink.received()[0].json()
    assert (document["action"], document["alert"]["fingerprint"]) == ("escalate", "abc123")
    assert document["title"] == "[CRITICAL] ESCALATED (not acknowledged): HighErrorRate (portfolio)"
    assert (document["summary"], document["description"]) == (LINKED["summary"], LINKED["description"])
    assert (document["instance"], document["missedDeadline"], document["lasted"]) == ("10.0.0.7:8080", "5m", None)
    links = document["links"]
    assert ack_alert_id(links.pop("acknowledge")) == 7
    assert links == {
        "runbook": f"{RECEIVER}/runbooks/higherrorrate",
        "dashboard": DASHBOARD,
        "graph": "http://prometheus/graph",
        "console": f"{RECEIVER}/console/alerts/7",
    }
    sink.status = 503
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(Notification(record(), "trigger"))
    assert failed.value.retryable is True


def test_an_unreachable_endpoint_is_a_retryable_failure() -> None:
    channel = SlackChannel(f"http://127.0.0.1:{services.free_port()}/x", requests.Session(), 2, COMPOSER)
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(Notification(record(), "trigger"))
    assert failed.value.retryable is True


# --- e-mail through a real SMTP server (aiosmtpd) with STARTTLS and AUTH ---


@dataclass
class Mailbox:
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass(frozen=True)
class SmtpServer:
    port: int
    ca_file: Path
    mailbox: Mailbox


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"smtp-pass")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    cert, key = self_signed_certificate(tmp_path)
    tls = server_tls(cert, key)
    mailbox = Mailbox()
    port = services.free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield SmtpServer(port, cert, mailbox)
    controller.stop()


def smtp_config(server: SmtpServer, password: str = "smtp-pass") -> SmtpConfig:  # noqa: S107 - test server
    return SmtpConfig(
        host="127.0.0.1",
        port=server.port,
        starttls=True,
        ca_file=server.ca_file,
        username="alerts",
        password=Secret(password),
        sender="alerts@example.com",
        recipients=("oncall@example.com", "lead@example.com"),
    )


def test_email_goes_through_starttls_and_auth_with_text_and_html_parts_and_the_links(
    smtp_server: SmtpServer,
) -> None:
    evil = linked(alertname="Boom\r\nBcc: victim@example.com", annotations={**LINKED, "summary": "<script>x</script>"})
    EmailChannel(smtp_config(smtp_server), 10, COMPOSER).send(Notification(evil, "trigger"))
    [(envelope, raw)] = smtp_server.mailbox.messages
    mail = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    assert mail["Bcc"] is None
    assert mail["Subject"] == "[CRITICAL] FIRING: Boom Bcc: victim@example.com (portfolio)"
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "<script>x</script>" in text  # plain text, shown as written
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in html
    for line in (
        LINKED["description"],
        "priority: critical  service: portfolio  instance: 10.0.0.7:8080",
        "since: 2026-03-02 08:59:00 UTC",
        f"Runbook: {RECEIVER}/runbooks/higherrorrate",
        f"Dashboard: {DASHBOARD}",
        "Graph: http://prometheus/graph",
        f"Console: {RECEIVER}/console/alerts/7",
    ):
        assert f"{line}\n" in text
    [ack_text] = re.findall(r"^Acknowledge: (\S+)$", text, re.M)
    assert ack_alert_id(ack_text) == 7
    hrefs = dict(
        (label, href.replace("&amp;", "&")) for href, label in re.findall(r'<a href="([^"]+)"[^>]*>(\w+)</a>', html)
    )
    assert ack_alert_id(hrefs.pop("Acknowledge")) == 7
    assert hrefs == {
        "Runbook": f"{RECEIVER}/runbooks/higherrorrate",
        "Dashboard": DASHBOARD,
        "Graph": "http://prometheus/graph",
        "Console": f"{RECEIVER}/console/alerts/7",
    }


def test_the_digest_sends_many_notifications_in_one_email_with_their_console_links(smtp_server: SmtpServer) -> None:
    digest = EmailDigestChannel(EmailChannel(smtp_config(smtp_server), 10, COMPOSER))
    digest.send_digest([Notification(record(id=i, alertname=f"Low{i}", priority="low"), "trigger") for i in range(3)])
    [(_, mail)] = smtp_server.mailbox.messages
    assert mail["Subject"] == "Alert digest: 3 notifications"
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    assert isinstance(text, bytes)
    lines = text.decode().splitlines()[2:]
    assert [line.split(":")[1].strip() for line in lines] == [f"Low{i} (portfolio)" for i in range(3)]
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"{RECEIVER}/console/alerts/{i}" for i in range(3)]


def test_a_wrong_smtp_password_is_a_permanent_failure(smtp_server: SmtpServer) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        EmailChannel(smtp_config(smtp_server, "wrong"), 10, COMPOSER).send(Notification(record(), "trigger"))
    assert failed.value.retryable is False
    assert smtp_server.mailbox.messages == []


class FailOnce:
    """An SMTP channel whose first send fails after the server took the message (the answer was lost)."""

    name = "email"

    def __init__(self, email: EmailChannel) -> None:
        self._email = email
        self.failed = False

    def send(self, notification: Notification) -> None:
        self._email.send(notification)
        if not self.failed:
            self.failed = True
            raise DeliveryFailed("email: connection lost after DATA", retryable=True)


def test_an_alerts_mails_have_date_and_message_id_and_form_one_conversation(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    clock = [1_772_442_000.0]
    history = SqlAlertHistory(SqliteDatabase(tmp_path / "history.sqlite3"))
    history.migrate()
    channel = FailOnce(EmailChannel(smtp_config(smtp_server), 10, COMPOSER, clock=lambda: clock[0]))
    worker = DeliveryWorker(
        history,
        {"email": channel},
        RoutingPolicy(),
        DeliveryMetrics(CollectorRegistry()),
        lambda: clock[0],
        Backoff(1.0, 1.0, rand=lambda: 0.0),
    )
    observation = Observation(
        fingerprint="a1b2c3",
        starts_at=clock[0] - 60,
        alertname="DiskFull",
        status="firing",
        priority="medium",
        priority_defaulted=False,
        service="asset",
        labels={"alertname": "DiskFull", "priority": "medium", "service": "asset"},
        annotations={"summary": "disk full"},
        generator_url="http://prometheus/graph",
        ends_at=None,
        content_hash="h1",
        channels=("email",),
        retry_budget=5,
        ack_deadline=None,
    )
    history.record([observation], clock[0])
    worker.drain()  # the trigger: taken by the server, then reported failed
    clock[0] += 2
    worker.drain()  # its retry: the same message again
    history.record([replace(observation, status="resolved", ends_at=clock[0])], clock[0])
    worker.drain()
    mails = [mail for _, mail in smtp_server.mailbox.messages]
    assert [m["Subject"].split(":")[0] for m in mails] == ["[MEDIUM] FIRING", "[MEDIUM] FIRING", "[MEDIUM] RESOLVED"]
    first, retry, resolve = mails
    for mail, at in ((first, 1_772_442_000.0), (retry, 1_772_442_002.0), (resolve, 1_772_442_002.0)):
        assert parsedate_to_datetime(mail["Date"]) == datetime.fromtimestamp(at, UTC)
        assert re.fullmatch(r"<alert-\d+\.\d+\.a1b2c3@example\.com>", mail["Message-ID"])
    assert retry["Message-ID"] == first["Message-ID"]  # a retried job is the same message
    assert resolve["Message-ID"] != first["Message-ID"]
    assert (first["In-Reply-To"], first["References"]) == (None, None)
    assert resolve["In-Reply-To"] == first["Message-ID"]
    assert resolve["References"] == first["Message-ID"]


def test_a_digest_has_a_date_and_its_own_message_id(smtp_server: SmtpServer) -> None:
    email = EmailChannel(smtp_config(smtp_server), 10, COMPOSER, clock=lambda: 1_772_442_000.0)
    EmailDigestChannel(email).send_digest([Notification(record(alertname=f"Low{i}"), "trigger") for i in range(2)])
    [(_, mail)] = smtp_server.mailbox.messages
    assert parsedate_to_datetime(mail["Date"]) == datetime.fromtimestamp(1_772_442_000.0, UTC)
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", mail["Message-ID"])
