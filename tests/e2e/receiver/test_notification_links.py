"""Notifications a person can act on, through the real pieces.

A real Alertmanager sends a critical alert, as Prometheus renders the shipped ServiceDown rule,
and a hostile one to `monitoring receiver` (gunicorn, two workers, PostgreSQL), which pages it on
every channel: Slack, PagerDuty (HTTPS), SMS (Twilio's API), e-mail (a real SMTP server), the
generic webhook and the file channel. Each channel's recorded request is checked field by field,
and every link in every notification is followed: the runbook pages the receiver serves, the
dashboard panels (a stand-in Grafana that knows the shipped dashboards), Prometheus's graph (a
real Prometheus), the console and the acknowledge page. Following them all acknowledges nothing.
Then headless Chromium opens the acknowledge link and presses its button: the timeline, the audit
log and PagerDuty (an acknowledge event) show it; the same link again, a tampered one and an
expired one get pages that say so and are counted. Finally the resolve says how long it lasted.
The scenarios share one stack and run in file order (~40 s).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from receiver.delivery.ack_links import AckLinks
from receiver.delivery.message import SMS_LIMIT
from tests import notification_links, services
from tests.conftest import fresh_database
from tests.credentials import get_json
from tests.e2e.browser import ARTIFACTS, headless_chromium
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, pagerduty_reply, receiver_env, wait_until
from tests.e2e.receiver.test_alertmanager_to_channels import start_am
from tests.fake_grafana import FakeGrafana
from tests.processes import ServerProcess, post_alerts, start_prometheus
from tests.sinks import RecordedRequest, RecordingSink, self_signed_certificate, server_tls

ROOT = Path(__file__).resolve().parents[3]
SECRET = "e2e-acknowledge-link-signing-key-0123456789"
CHANNELS = ("pagerduty", "slack", "sms", "email", "webhook", "file")
ROUTING = f"""
fallback: file
priorities:
  critical: {{channels: [{", ".join(CHANNELS)}], escalation: [slack], ack_deadline: 1h}}
"""
LABELS = {
    "alertname": "ServiceDown",
    "priority": "critical",
    "kind": "threshold",
    "service": "asset-service",
    "instance": "127.0.0.1:9201",
    "job": "platform",
}
HOSTILE = {"alertname": "HostileText", "priority": "critical", "service": "<b>evil</b>"}
HOSTILE_ANNOTATIONS = {
    "summary": "<!channel> <script>alert(1)</script>",
    "description": "@here *bold* <http://evil.example|click> & more",
    "runbook_url": "javascript:alert(document.cookie)",
    "dashboard_url": "//evil.example/d/x",
}


def shipped_annotations(alertname: str, labels: dict[str, str], runbook_base: str) -> dict[str, str]:
    """The rule's annotations as Prometheus renders them (its templates here use only these variables)."""
    rules = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())["groups"]
    [rule] = [r for g in rules for r in g["rules"] if r.get("alert") == alertname]
    rendered = {}
    for name, text in rule["annotations"].items():
        text = text.replace("{{ $externalLabels.runbook_base }}", runbook_base)
        rendered[name] = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    return rendered


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        assert isinstance(envelope.content, bytes)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        with self.lock:
            self.messages.append(mail)
        return "250 OK"

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


@dataclass
class Stack:
    receiver: ReceiverProcess
    sinks: Sinks
    mailbox: Mailbox
    grafana: FakeGrafana
    prometheus_url: str
    alertmanager_url: str
    notifications_file: Path
    started: datetime
    annotations: dict[str, str]
    generator_url: str

    def fire(self, labels: dict[str, str], annotations: dict[str, str], ends_at: datetime | None = None) -> None:
        alert: dict[str, object] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": self.started.isoformat(),
            "generatorURL": self.generator_url,
        }
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        post_alerts(self.alertmanager_url, [alert])

    def file_documents(self) -> list[dict[str, Any]]:
        if not self.notifications_file.exists():
            return []
        return [json.loads(line) for line in self.notifications_file.read_text().splitlines() if line.strip()]

    def deliveries(self, action: str, alertname: str) -> dict[str, Any]:
        """The one notification of ``action`` about ``alertname`` that each channel received."""
        title = f"{'FIRING' if action == 'trigger' else 'RESOLVED'}: {alertname}"

        def one(found: list[Any], channel: str) -> Any:
            assert len(found) == 1, f"{channel}: {len(found)} {action} notifications of {alertname}"
            return found[0]

        pagerduty = [
            r
            for r in self.sinks.pagerduty.received()
            if r.json()["event_action"] == action
            and (action != "trigger" or alertname in r.json()["payload"]["summary"])
        ]
        return {
            "slack": one([r for r in self.sinks.slack.received() if title in r.json()["text"]], "slack"),
            "sms": one([r for r in self.sinks.sms.received() if title in _sms_body(r)], "sms"),
            "webhook": one([r for r in self.sinks.webhook.received() if title in r.json()["title"]], "webhook"),
            "email": one([m for m in self.mailbox.received() if title in str(m["Subject"])], "email"),
            "file": one([d for d in self.file_documents() if title in d["title"]], "file"),
            "pagerduty": pagerduty,
        }


def _sms_body(request: RecordedRequest) -> str:
    return urllib.parse.parse_qs(request.body.decode())["Body"][0]


@pytest.fixture(scope="module")
def stack(postgres_server_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("notification-links")
    cert, key = self_signed_certificate(tmp_path)
    sinks = Sinks(
        slack=RecordingSink(),
        sms=RecordingSink(status=201),
        pagerduty=RecordingSink(status=202, body=pagerduty_reply, tls=server_tls(cert, key)),
        webhook=RecordingSink(),
        ca_file=cert,
    )
    grafana, mailbox = FakeGrafana(), Mailbox()
    smtp_port = services.free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING)
    prometheus_port = services.free_port()
    (tmp_path / "prometheus").mkdir()
    processes: list[ServerProcess] = []
    with fresh_database(postgres_server_uri) as database:
        try:
            for sink in sinks.all():
                sink.start()
            grafana.start()
            smtp.start()
            processes.append(
                start_prometheus(
                    services.binary("prometheus", "prometheus"),
                    "global: {scrape_interval: 1s}\n",
                    tmp_path / "prometheus",
                    prometheus_port,
                    f"--web.external-url=http://127.0.0.1:{prometheus_port}",
                )
            )
            env = receiver_env(database, sinks, tmp_path)
            receiver_url = f"http://127.0.0.1:{env['RECEIVER_PORT']}"
            env.update(
                RECEIVER_EXTERNAL_URL=receiver_url,
                RECEIVER_GRAFANA_URL=grafana.url,
                RECEIVER_ACK_SECRET=SECRET,
                RECEIVER_ROUTING_FILE=str(routing),
                RECEIVER_WEBHOOK_URL=f"{sinks.webhook.url}/hook",
                RECEIVER_SMTP_HOST="127.0.0.1",
                RECEIVER_SMTP_PORT=str(smtp_port),
                RECEIVER_SMTP_STARTTLS="false",
                RECEIVER_EMAIL_FROM="alerts@example.com",
                RECEIVER_EMAIL_TO="oncall@example.com",
                RECEIVER_FILE_CHANNEL_PATH=str(tmp_path / "notifications.jsonl"),
            )
            receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
            try:
                alertmanager, am_port = start_am(tmp_path, receiver.url)
                processes.append(alertmanager)
                expr = urllib.parse.quote_plus('up{job="platform"} == 0 or service_up == 0')
                yield Stack(
                    receiver=receiver,
                    sinks=sinks,
                    mailbox=mailbox,
                    grafana=grafana,
                    prometheus_url=f"http://127.0.0.1:{prometheus_port}",
                    alertmanager_url=f"http://127.0.0.1:{am_port}",
                    notifications_file=tmp_path / "notifications.jsonl",
                    started=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20),
                    annotations=shipped_annotations("ServiceDown", LABELS, receiver_url),
                    generator_url=f"http://127.0.0.1:{prometheus_port}/graph?g0.expr={expr}&g0.tab=1",
                )
            finally:
                for process in reversed(processes):
                    process.stop()
                receiver.stop()
        finally:
            smtp.stop()
            grafana.stop()
            for sink in sinks.all():
                sink.stop()


def alert_document(stack: Stack, alertname: str) -> dict[str, Any]:
    alerts = get_json(f"{stack.receiver.url}/api/v1/alerts", stack.receiver.api_key)["alerts"]
    [found] = [a for a in alerts if a["alertname"] == alertname]
    detail: dict[str, Any] = get_json(f"{stack.receiver.url}/api/v1/alerts/{found['id']}", stack.receiver.api_key)
    return detail


def metric(stack: Stack, name: str, **labels: str) -> float:
    _, _, text = notification_links.get(f"{stack.receiver.url}/metrics")
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if labels else ''} (\S+)$"
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def every_link(deliveries: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "slack": notification_links.slack(deliveries["slack"]),
        "pagerduty": [u for r in deliveries["pagerduty"] for u in notification_links.pagerduty(r)],
        "sms": notification_links.sms(deliveries["sms"]),
        "email": notification_links.email(deliveries["email"]),
        "webhook": notification_links.webhook(deliveries["webhook"]),
        "file": notification_links.webhook_document(deliveries["file"]),
    }


def test_every_channel_carries_the_message_and_its_links_field_by_field(stack: Stack) -> None:
    stack.fire(LABELS, stack.annotations)
    stack.fire(HOSTILE, HOSTILE_ANNOTATIONS)
    for alertname in ("ServiceDown", "HostileText"):
        _wait_for_all(stack, "trigger", alertname)
    got = stack.deliveries("trigger", "ServiceDown")
    receiver, alert_id = stack.receiver.url, alert_document(stack, "ServiceDown")["id"]
    runbook, console = f"{receiver}/runbooks/servicedown", f"{receiver}/console/alerts/{alert_id}"
    start_ms = int((stack.started.timestamp() - 3600) * 1000)
    panel = "/d/system-status/system-status?viewPanel=6&var-service=asset-service"
    dashboard = f"{stack.grafana.url}{panel}&from={start_ms}&to=now"
    title = "[CRITICAL] FIRING: ServiceDown (asset-service)"
    links = {"runbook": runbook, "dashboard": dashboard, "graph": stack.generator_url, "console": console}
    ack_prefix = f"{receiver}/console/ack/"

    slack = got["slack"].json()
    assert got["slack"].path == "/services/T0/B0/secret"
    assert slack["text"] == title
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "section", "context", "actions"]
    header, section, fields, labels, actions = slack["blocks"]
    assert header["text"] == {"type": "plain_text", "text": title}
    assert section["text"] == {
        "type": "mrkdwn",
        "text": f":rotating_light: *asset-service is down*\n{stack.annotations['description']}",
    }
    assert [f["text"] for f in fields["fields"]] == [
        "*Priority*\ncritical",
        "*Service*\nasset-service",
        "*Instance*\n127.0.0.1:9201",
        f"*Since*\n{stack.started.strftime('%Y-%m-%d %H:%M:%S')} UTC",
    ]
    assert labels["elements"][0]["text"] == " ".join(f"{k}={v}" for k, v in sorted(LABELS.items()))
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert list(buttons) == ["acknowledge", "runbook", "dashboard", "graph", "console"]
    assert buttons["acknowledge"]["url"].startswith(ack_prefix)
    assert buttons["acknowledge"]["style"] == "primary"
    assert {name: buttons[name]["url"] for name in links} == links

    [pagerduty] = got["pagerduty"]
    event = pagerduty.json()
    assert (event["routing_key"], event["event_action"]) == ("pd-routing-key", "trigger")
    assert event["payload"]["summary"] == title
    assert (event["payload"]["severity"], event["payload"]["source"]) == ("critical", "asset-service")
    assert event["payload"]["custom_details"]["description"] == stack.annotations["description"]
    assert event["payload"]["custom_details"]["instance"] == "127.0.0.1:9201"
    assert [link["text"] for link in event["links"]] == ["Acknowledge", "Runbook", "Dashboard", "Graph", "Console"]
    assert event["links"][0]["href"].startswith(ack_prefix)
    assert [link["href"] for link in event["links"][1:]] == list(links.values())
    assert (event["client"], event["client_url"]) == ("Monitoring receiver", console)

    form = urllib.parse.parse_qs(got["sms"].body.decode())
    assert (form["From"], form["To"]) == (["+15550001"], ["+15550002"])
    assert form["Body"] == [f"{title}: asset-service is down {console}"]
    assert len(form["Body"][0]) <= SMS_LIMIT

    mail = got["email"]
    assert (str(mail["Subject"]), str(mail["From"]), str(mail["To"])) == (
        title,
        "alerts@example.com",
        "oncall@example.com",
    )
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    text = text_part.get_content().replace("\r\n", "\n")  # SMTP line endings
    for line in (
        title,
        "asset-service is down",
        stack.annotations["description"],
        "priority: critical  service: asset-service  instance: 127.0.0.1:9201",
        *(f"{name.capitalize()}: {url}" for name, url in links.items()),
    ):
        assert f"{line}\n" in text, line
    assert re.search(rf"^Acknowledge: {re.escape(ack_prefix)}\S+$", text, re.M)
    hrefs = re.findall(r'<a href="([^"]+)"[^>]*>(\w+)</a>', html_part.get_content())
    assert [label for _, label in hrefs] == ["Acknowledge", "Runbook", "Dashboard", "Graph", "Console"]
    assert [h.replace("&amp;", "&") for h, _ in hrefs[1:]] == list(links.values())

    for document in (got["webhook"].json(), got["file"]):
        assert (document["action"], document["title"], document["summary"]) == (
            "trigger",
            title,
            "asset-service is down",
        )
        assert (document["description"], document["instance"]) == (stack.annotations["description"], "127.0.0.1:9201")
        assert document["links"]["acknowledge"].startswith(ack_prefix)
        assert {k: v for k, v in document["links"].items() if k != "acknowledge"} == links
        assert document["alert"]["labels"] == LABELS
        assert document["alert"]["annotations"] == stack.annotations

    hostile = stack.deliveries("trigger", "HostileText")
    hostile_slack = hostile["slack"].json()
    body = hostile_slack["blocks"][1]["text"]["text"]
    assert body == (
        ":rotating_light: *&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt;*\n"
        "@\u200bhere *bold* &lt;http://evil.example|click&gt; &amp; more"
    )
    assert hostile_slack["blocks"][-2]["elements"][0]["text"] == "Runbook: javascript:alert(document.cookie)"
    assert [b["action_id"] for b in hostile_slack["blocks"][-1]["elements"]] == ["acknowledge", "graph", "console"]
    [hostile_event] = hostile["pagerduty"]
    assert [link["text"] for link in hostile_event.json()["links"]] == ["Acknowledge", "Graph", "Console"]
    hostile_html = hostile["email"].get_body(("html",))
    assert hostile_html is not None
    assert not [h for h in re.findall(r'href="([^"]+)"', hostile_html.get_content()) if not h.startswith("http")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_html.get_content()
    assert hostile["webhook"].json()["links"]["runbook"] is None


def _wait_for_all(stack: Stack, action: str, alertname: str) -> None:
    """Until each channel has exactly one ``action`` notification of ``alertname`` (PagerDuty: at least one)."""

    def arrived() -> bool:
        try:
            return bool(stack.deliveries(action, alertname)["pagerduty"])
        except AssertionError:  # a channel has none yet
            return False

    wait_until(arrived, timeout=30, what=f"{action} of {alertname} on every channel")


def test_every_link_in_every_notification_answers_and_opening_them_changes_nothing(stack: Stack) -> None:
    every: list[str] = []
    for name in ("ServiceDown", "HostileText"):
        for channel, found in every_link(stack.deliveries("trigger", name)).items():
            assert found, f"{channel} carried no link for {name}"
            every += found
    statuses = notification_links.follow_all(every)
    assert {url: status for url, status in statuses.items() if status != 200} == {}
    kinds = {
        "acknowledge": [u for u in statuses if "/console/ack/" in u],
        "runbook": [u for u in statuses if "/runbooks/" in u],
        "dashboard": [u for u in statuses if u.startswith(stack.grafana.url)],
        "graph": [u for u in statuses if u.startswith(stack.prometheus_url)],
        "console": [u for u in statuses if "/console/alerts/" in u],
    }
    assert all(kinds.values()), kinds
    print(f"followed {len(statuses)} distinct links from {len(every)} in the notifications: every one answered 200")
    # The dashboard stand-in answered 200 because the rule's dashboard and panel exist.
    assert {status for path, status in stack.grafana.requests} == {200}
    # An unsigned-in console link lands on the sign-in page (200); with a key, on the alert.
    console = kinds["console"][0]
    status, final, _ = notification_links.get(console)
    assert (status, urllib.parse.urlsplit(final).path) == (200, "/console/login")
    status, _, page = notification_links.get(console, {"Authorization": f"Bearer {stack.receiver.api_key}"})
    assert status == 200
    assert "ServiceDown" in page
    # The alert page links the same runbook, dashboard and graph, and they answer too.
    on_page = {
        name: html.unescape(url)
        for url, name in re.findall(r'<a href="([^"]+)" class="alert-link" data-link="(\w+)"', page)
    }
    assert sorted(on_page) == ["dashboard", "graph", "runbook"]
    assert on_page["runbook"] in kinds["runbook"]
    assert on_page["graph"] in kinds["graph"]
    assert urllib.parse.urlsplit(on_page["dashboard"]).path in {
        urllib.parse.urlsplit(u).path for u in kinds["dashboard"]
    }
    assert set(notification_links.follow_all(list(on_page.values())).values()) == {200}
    # Each row of the console's history links the same, and they answer too.
    history_url = console.split("/console/alerts/")[0] + "/console/history"
    status, _, history = notification_links.get(history_url, {"Authorization": f"Bearer {stack.receiver.api_key}"})
    assert status == 200
    row_links = {
        html.unescape(url) for url, _ in re.findall(r'<a href="([^"]+)" class="alert-link" data-link="(\w+)"', history)
    }
    assert set(on_page.values()) <= row_links
    assert set(notification_links.follow_all(sorted(row_links)).values()) == {200}
    for url in kinds["runbook"]:
        assert "Runbook: ServiceDown" in notification_links.get(url)[2]
    # Opening links (as chat unfurlers and mail scanners do) acknowledged nothing.
    assert alert_document(stack, "ServiceDown")["acknowledgedAt"] is None
    assert alert_document(stack, "HostileText")["acknowledgedAt"] is None
    assert metric(stack, "receiver_ack_links_acknowledged_total") == 0


def test_the_acknowledge_button_in_chromium_acknowledges_once_and_bad_links_get_a_clear_page(stack: Stack) -> None:
    got = stack.deliveries("trigger", "ServiceDown")
    [link] = [u for u in notification_links.slack(got["slack"]) if "/console/ack/" in u]
    detail = alert_document(stack, "ServiceDown")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with headless_chromium() as browser:
        wait = WebDriverWait(browser, 15)
        browser.get(link)
        wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-button")))
        assert "ServiceDown" in browser.find_element(By.TAG_NAME, "h1").text
        browser.find_element(By.ID, "ack-who").send_keys("alice")
        browser.find_element(By.ID, "ack-comment").send_keys("on it")
        browser.save_screenshot(str(ARTIFACTS / "ack-link.png"))
        browser.find_element(By.ID, "ack-button").click()
        done = wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-done")))
        assert "Acknowledged by alice" in done.text
        browser.save_screenshot(str(ARTIFACTS / "ack-link-done.png"))

        browser.get(link)  # the same link again
        refused = wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-refused")))
        assert refused.get_attribute("data-reason") == "replayed"
        assert "used already, by alice" in refused.text
        assert browser.find_elements(By.ID, "ack-button") == []

        token = link.rsplit("/", 1)[1]
        tampered = link[: -len(token)] + token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        browser.get(tampered)
        refused = wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-refused")))
        assert refused.get_attribute("data-reason") == "invalid"

        old = AckLinks(SECRET, 86400, lambda: time.time() - 86400 - 60).token(detail["id"])  # signed a day ago
        browser.get(f"{stack.receiver.url}/console/ack/{old}")
        refused = wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-refused")))
        assert refused.get_attribute("data-reason") == "expired"
        assert "expired" in refused.text
        browser.save_screenshot(str(ARTIFACTS / "ack-link-expired.png"))

    acked = alert_document(stack, "ServiceDown")
    assert acked["acknowledgedBy"] == "alice"
    assert [(e["actor"], e["detail"]) for e in acked["timeline"] if e["kind"] == "acknowledged"] == [
        ("alice", "via the acknowledge link: on it")
    ]
    audit = get_json(f"{stack.receiver.url}/api/v1/audit?action=alert.acknowledge", stack.receiver.api_key)["entries"]
    assert [(e["actor"], e["outcome"], e["detail"]) for e in audit if e["outcome"] == "success"] == [
        ("ack-link", "success", "as alice: via the acknowledge link: on it")
    ]
    [trigger] = got["pagerduty"]
    wait_until(
        lambda: any(r.json()["event_action"] == "acknowledge" for r in stack.sinks.pagerduty.received()),
        what="the PagerDuty acknowledge",
    )
    [ack_event] = [r.json() for r in stack.sinks.pagerduty.received() if r.json()["event_action"] == "acknowledge"]
    assert ack_event["dedup_key"] == trigger.json()["dedup_key"]
    assert ack_event["routing_key"] == "pd-routing-key"
    for reason in ("replayed", "invalid", "expired"):
        assert metric(stack, "receiver_ack_links_refused_total", reason=reason) == 1, reason
    assert metric(stack, "receiver_ack_links_acknowledged_total") == 1


def test_the_resolve_says_how_long_it_lasted_carries_no_acknowledge_link_and_its_links_answer(stack: Stack) -> None:
    ended = stack.started + timedelta(seconds=25)
    stack.fire(LABELS, stack.annotations, ends_at=ended)
    _wait_for_all(stack, "resolve", "ServiceDown")
    got = stack.deliveries("resolve", "ServiceDown")
    title = "[CRITICAL] RESOLVED: ServiceDown (asset-service)"
    assert got["slack"].json()["blocks"][1]["text"]["text"].endswith("Resolved after 25s.")
    assert _sms_body(got["sms"]).startswith(f"{title}: resolved after 25s: asset-service is down ")
    text = got["email"].get_body(("plain",))
    assert text is not None
    assert "resolved after 25s\r\n" in text.get_content()
    assert got["webhook"].json()["lasted"] == "25s"
    links = every_link(got)
    assert not [u for found in links.values() for u in found if "/console/ack/" in u]
    end_ms = int((ended.timestamp() + 900) * 1000)
    assert f"&to={end_ms}" in got["webhook"].json()["links"]["dashboard"]
    statuses = notification_links.follow_all(u for found in links.values() for u in found)
    assert set(statuses.values()) == {200}
