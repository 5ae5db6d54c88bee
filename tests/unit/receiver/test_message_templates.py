"""Message templates an operator changes: overrides, the sandbox, start-up checks, send-time fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monitoring.settings import ConfigError
from receiver.config.settings import NotificationConfig, ReceiverConfig
from receiver.delivery.channels.email import compose
from receiver.delivery.channels.slack import blocks
from receiver.delivery.composer import Composer
from receiver.delivery.links import LinkBuilder
from receiver.delivery.notification import Notification
from receiver.delivery.templates import EMAIL_HTML, EMAIL_TEXT, SLACK_BODY, TITLE, MessageTemplates
from receiver.operations import preflight
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, credentialed_client
from tests.unit.receiver.conftest import build_receiver
from tests.unit.receiver.fakes import FakeClock, alert, body
from tests.unit.receiver.test_messages import record


def folder(tmp_path: Path, **files: str) -> Path:
    out = tmp_path / "templates"
    out.mkdir(exist_ok=True)
    for name, text in files.items():
        (out / name.replace("__", ".")).write_text(text)
    return out


def composer(templates: MessageTemplates) -> Composer:
    return Composer(LinkBuilder(NotificationConfig(external_url="https://alerts.example.com")), templates)


def test_an_override_replaces_its_packaged_template_and_the_others_stay(tmp_path: Path) -> None:
    overrides = folder(
        tmp_path, title__txt__j2="{{ priority | upper }} {{ alertname }} on {{ service }} [{{ action }}]"
    )
    c = composer(MessageTemplates(overrides))
    m = c.message(Notification(record(), "trigger"))
    assert m.title == "CRITICAL HighErrorRate on portfolio [trigger]"
    assert blocks(m, c)["blocks"][0]["text"]["text"] == m.title
    assert "errors" in c.render(EMAIL_TEXT, m)  # the packaged text template, with the new title
    assert m.title in c.render(EMAIL_TEXT, m)


def test_an_overriding_html_template_escapes_every_value(tmp_path: Path) -> None:
    overrides = folder(
        tmp_path, email__html__j2="<p>{{ summary }}</p>{% for l in links %}<a href='{{ l.url }}'>x</a>{% endfor %}"
    )
    c = composer(MessageTemplates(overrides))
    m = c.message(Notification(record(annotations={"summary": "<script>alert('x')</script>"}), "trigger"))
    assert c.render(EMAIL_HTML, m) == (
        "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p>"
        "<a href='http://prometheus/graph'>x</a><a href='https://alerts.example.com/console/alerts/7'>x</a>"
    )


def test_an_overriding_slack_template_escapes_every_value_but_keeps_its_own_markup(tmp_path: Path) -> None:
    overrides = folder(tmp_path, slack__mrkdwn__j2="*{{ summary }}* <{{ console_url }}|open>")
    c = composer(MessageTemplates(overrides))
    m = c.message(Notification(record(annotations={"summary": "<!channel> @here & <http://evil|x>"}), "trigger"))
    assert c.render(SLACK_BODY, m) == (
        "*&lt;!channel&gt; @\u200bhere &amp; &lt;http://evil|x&gt;* <https://alerts.example.com/console/alerts/7|open>"
    )


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        ("title.txt.j2", "ok\n{{ summary }\n", 2, "unexpected '}'"),
        ("email.html.j2", "<p>\n{% for x in links %}\n", 2, "Unexpected end of template"),
        ("sms.txt.j2", "{{ title }}\n\n{{ no_such_field }}", 3, "'no_such_field' is undefined"),
        ("email.txt.j2", "{{ summary }}\n{{ ''.__class__.__mro__ }}", 2, "SecurityError"),
        ("slack.mrkdwn.j2", "{{ labels.append(1) }}", 1, "SecurityError"),
        ("title.txt.j2", "{{ links[0].url }}", 1, "fails for a trigger notification"),  # no links in one sample
    ],
    ids=["syntax", "unclosed block", "undefined name", "sandbox: internals", "sandbox: mutation", "not every case"],
)
def test_a_bad_template_stops_the_start_naming_the_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, words: str
) -> None:
    overrides = folder(tmp_path, **{name.replace(".", "__"): text})
    with pytest.raises(ConfigError) as stopped:
        MessageTemplates(overrides)
    assert f"{overrides / name}:{line}:" in str(stopped.value)
    assert words in str(stopped.value)
    config = ReceiverConfig.from_environ({"RECEIVER_TEMPLATE_DIR": str(overrides)})
    with pytest.raises(ConfigError, match=name):
        preflight(config)  # what `monitoring receiver` runs before gunicorn starts
    with pytest.raises(ConfigError, match=name):
        build_receiver(tmp_path, env={"RECEIVER_TEMPLATE_DIR": str(overrides)})  # and each worker's app


def test_an_unknown_file_in_the_template_folder_stops_the_start(tmp_path: Path) -> None:
    overrides = folder(tmp_path, slak__mrkdwn__j2="{{ summary }}", README__md="not a template")
    with pytest.raises(ConfigError, match=r"slak\.mrkdwn\.j2: not a message template \(expected one of title"):
        MessageTemplates(overrides)


def test_a_template_failing_at_send_time_falls_back_is_counted_and_the_notification_still_goes_out(
    tmp_path: Path,
) -> None:
    overrides = folder(
        tmp_path,
        title__txt__j2="{% if alertname == 'Boom' %}{{ missing_field }}{% else %}custom: {{ alertname }}{% endif %}",
    )
    path, routing = tmp_path / "notifications.jsonl", tmp_path / "routing.yaml"
    routing.write_text("fallback: file\n")  # no paid channel configured: every alert goes to the file
    config = ReceiverConfig.from_environ(
        {
            "RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3"),
            "RECEIVER_DEADMANS_SWITCH": "off",
            "RECEIVER_TEMPLATE_DIR": str(overrides),
            "RECEIVER_FILE_CHANNEL_PATH": str(path),
            "RECEIVER_ROUTING_FILE": str(routing),
            **WEBHOOK_ENV,
        }
    )
    registry = CollectorRegistry()
    app = create_app(config, clock=FakeClock(), registry=registry)  # the real file channel, built from config
    client = credentialed_client(app)
    for name in ("Fine", "Boom"):
        assert client.post("/api/v1/alerts/alertmanager", data=body(alert(name, "critical"))).status_code == 200
    app.extensions["delivery"].drain()
    titles = [json.loads(line)["title"] for line in path.read_text().splitlines()]
    assert sorted(titles) == ["[CRITICAL] FIRING: Boom (portfolio)", "custom: Fine"]
    assert registry.get_sample_value("receiver_template_errors_total", {"template": TITLE}) == 1
    assert registry.get_sample_value("receiver_notifications_sent_total", {"channel": "file"}) == 2


def test_without_overrides_every_packaged_template_renders_every_kind_of_notification() -> None:
    c = composer(MessageTemplates())
    for action in ("trigger", "resolve", "escalate", "acknowledge"):
        n = Notification(record(), action, ack_deadline=300.0)
        m = c.message(n)
        mail = compose(n, m, c, "a@example.com", ("b@example.com",))
        assert mail["Subject"] == m.title
        assert blocks(m, c)["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("env", "warnings"),
    [
        ({}, ["RECEIVER_EXTERNAL_URL is not set: notifications carry no console or acknowledge links"]),
        ({"RECEIVER_EXTERNAL_URL": "https://a.example"}, ["RECEIVER_ACK_SECRET is not set"]),
        ({"RECEIVER_EXTERNAL_URL": "https://a.example", "RECEIVER_ACK_SECRET": "k" * 32}, []),
    ],
)
def test_the_start_warns_once_about_links_notifications_will_lack(env: dict[str, str], warnings: list[str]) -> None:
    found = preflight(ReceiverConfig.from_environ(env))
    assert len(found) == len(warnings)
    assert all(w.startswith(expected) for w, expected in zip(found, warnings, strict=True))
