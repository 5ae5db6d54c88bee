"""What a notification links to, and how each channel carries the message within its limits.

The links: acknowledge (a signed single-use token), runbook, dashboard (with a time range),
graph (Prometheus's generator URL) and console; only http(s) URLs become links, relative paths
stay on their configured base, and what is left out without configuration is left out.
"""

from __future__ import annotations

import json
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from monitoring.settings import Secret
from receiver.config.settings import NotificationConfig, ReceiverConfig
from receiver.delivery.ack_links import AckLinks
from receiver.delivery.channels import sms
from receiver.delivery.channels.email import compose
from receiver.delivery.channels.pagerduty import trigger
from receiver.delivery.channels.slack import BUTTON_URL, blocks
from receiver.delivery.channels.webhook import document
from receiver.delivery.composer import Composer, build_composer, default_composer
from receiver.delivery.links import Link, LinkBuilder, http_url, on_base
from receiver.delivery.message import SMS_LIMIT, facts
from receiver.delivery.notification import Notification
from receiver.delivery.templates import EMAIL_TEXT
from tests.unit.receiver.fakes import T0
from tests.unit.receiver.test_messages import record

RECEIVER, GRAFANA = "https://alerts.example.com", "https://grafana.example.com/grafana"
SECRET = "s" * 40
FULL = NotificationConfig(external_url=RECEIVER, grafana_url=GRAFANA, ack_secret=Secret(SECRET), ack_link_ttl=600)
ANNOTATIONS = {
    "summary": "asset-service is down",
    "description": "asset-service (10.0.0.1:8080) fails its scrapes or health checks.",
    "runbook_url": f"{RECEIVER}/runbooks/servicedown",
    "dashboard_url": "/d/system-status/system-status?viewPanel=6&var-service=asset-service",
}


def composer(config: NotificationConfig = FULL) -> Composer:
    return build_composer(config, lambda: T0)


def down(**overrides: object) -> Notification:
    action = str(overrides.pop("action", "trigger"))
    deadline = overrides.pop("ack_deadline", None)
    fields: dict[str, object] = {
        "alertname": "ServiceDown",
        "service": "asset-service",
        "labels": {"alertname": "ServiceDown", "instance": "10.0.0.1:8080", "service": "asset-service"},
        "annotations": ANNOTATIONS,
        "generator_url": "http://prometheus.example/graph?g0.expr=up+%3D%3D+0",
    }
    return Notification(record(**{**fields, **overrides}), action, ack_deadline=deadline)  # type: ignore[arg-type]


def links(n: Notification, config: NotificationConfig = FULL) -> dict[str, Link]:
    return {link.name: link for link in composer(config).message(n).links}


def test_a_firing_alert_links_acknowledge_runbook_dashboard_graph_and_console_in_that_order() -> None:
    found = links(down())
    assert list(found) == ["acknowledge", "runbook", "dashboard", "graph", "console"]
    assert all(link.clickable for link in found.values())
    ack = AckLinks(SECRET, 600, lambda: T0).verify(found["acknowledge"].url.removeprefix(f"{RECEIVER}/console/ack/"))
    assert ack.alert_id == 7
    assert found["runbook"].url == f"{RECEIVER}/runbooks/servicedown"
    start = int((record().starts_at - 3600) * 1000)
    assert found["dashboard"].url == (
        f"{GRAFANA}/d/system-status/system-status?viewPanel=6&var-service=asset-service&from={start}&to=now"
    )
    assert found["graph"].url == "http://prometheus.example/graph?g0.expr=up+%3D%3D+0"
    assert found["console"].url == f"{RECEIVER}/console/alerts/7"


def test_each_notification_gets_its_own_acknowledge_link() -> None:
    first, second = (links(down())["acknowledge"].url for _ in range(2))
    assert first != second


def test_a_resolved_alert_has_no_acknowledge_link_and_its_dashboard_ends_after_the_resolve() -> None:
    resolved_at = record().starts_at + 130
    found = links(down(action="resolve", status="resolved", resolved_at=resolved_at))
    assert list(found) == ["runbook", "dashboard", "graph", "console"]
    assert found["dashboard"].url.endswith(f"&to={int((resolved_at + 900) * 1000)}")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (NotificationConfig(), ["runbook", "graph"]),
        (NotificationConfig(external_url=RECEIVER), ["runbook", "graph", "console"]),
        (NotificationConfig(ack_secret=Secret(SECRET)), ["runbook", "graph"]),
        (NotificationConfig(grafana_url=GRAFANA), ["runbook", "dashboard", "graph"]),
    ],
    ids=["nothing configured", "no signing key", "no public URL", "only Grafana"],
)
def test_links_that_need_configuration_are_left_out_without_it(config: NotificationConfig, expected: list[str]) -> None:
    assert list(links(down(), config)) == expected


@pytest.mark.parametrize(
    ("runbook", "url", "clickable"),
    [
        ("https://wiki.example.com/runbooks/ServiceDown", "https://wiki.example.com/runbooks/ServiceDown", True),
        ("/runbooks/servicedown", f"{RECEIVER}/runbooks/servicedown", True),  # a rule without runbook_base
        ("javascript:alert(document.cookie)", "javascript:alert(document.cookie)", False),
        ("JaVaScRiPt:alert(1)", "JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>x</script>", "data:text/html,<script>x</script>", False),
        ("docs/alerting.md#servicedown", "docs/alerting.md#servicedown", False),
        ("//evil.example/phish", "//evil.example/phish", False),  # protocol-relative: another host
        ("/\\evil.example", "/\\evil.example", False),
        ("https://ok.example/a b", "https://ok.example/a b", False),
        ("https://ok.example/\r\nX-Injected: 1", "https://ok.example/\r\nX-Injected: 1", False),
    ],
)
def test_only_http_urls_and_paths_on_our_own_base_become_runbook_links(runbook: str, url: str, clickable: bool) -> None:
    found = links(down(annotations={**ANNOTATIONS, "runbook_url": runbook}))["runbook"]
    assert (found.url, found.clickable) == (url, clickable)


@pytest.mark.parametrize(
    ("dashboard", "expected"),
    [
        ("/d/alerts/alerts?viewPanel=17", f"{GRAFANA}/d/alerts/alerts?viewPanel=17&from="),
        (
            "https://other-grafana.example/d/x?viewPanel=1&from=1&to=2",
            "https://other-grafana.example/d/x?viewPanel=1&from=",
        ),
        ("//evil.example/d/x", None),
        ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_dashboard_links_join_the_grafana_base_and_get_the_alerts_time_range(
    dashboard: str, expected: str | None
) -> None:
    found = links(down(annotations={**ANNOTATIONS, "dashboard_url": dashboard})).get("dashboard")
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.url.startswith(expected)
        assert found.clickable == expected.startswith("http")
        if found.clickable:
            assert found.url.count("from=") == 1
            assert found.url.count("to=") == 1


def test_url_checks_refuse_what_is_not_a_web_address_of_that_base() -> None:
    assert http_url(" https://a.example/x ") == "https://a.example/x"
    assert http_url("ftp://a.example/x") is None
    assert http_url("https:///nohost") is None
    assert http_url("https://[::1/x") is None
    assert http_url("https://a.example/" + "x" * 3000) is None
    assert on_base("https://a.example/base", "/runbooks/x") == "https://a.example/base/runbooks/x"
    assert on_base("https://a.example", "//b.example/x") is None
    assert on_base("https://a.example", "runbooks/x") is None
    assert on_base("https://a.example", "@b.example/x") is None


def test_a_configured_base_url_loses_its_trailing_slash() -> None:
    config = ReceiverConfig.from_environ(
        {"RECEIVER_EXTERNAL_URL": "https://alerts.example.com/monitoring/", "RECEIVER_GRAFANA_URL": "http://g:3000/"}
    )
    assert config.notifications.external_url == "https://alerts.example.com/monitoring"
    assert config.notifications.grafana_url == "http://g:3000"
    assert LinkBuilder(config.notifications).links(down())[-1].url == (
        "https://alerts.example.com/monitoring/console/alerts/7"
    )


# --- each channel, within its limits ---


def test_slack_carries_the_description_value_and_a_button_per_link() -> None:
    c = composer()
    n = down(annotations={**ANNOTATIONS, "value": "0"})
    body = blocks(c.message(n), c)
    _, section, fields, _, actions = body["blocks"]
    assert section["text"]["text"] == (
        ":rotating_light: *asset-service is down*\nasset-service (10.0.0.1:8080) fails its scrapes or health checks."
        "\n*Value:* 0"
    )
    assert [f["text"].split("\n")[0] for f in fields["fields"]] == ["*Priority*", "*Service*", "*Instance*", "*Since*"]
    assert [b["text"]["text"] for b in actions["elements"]] == [
        "Acknowledge",
        "Runbook",
        "Dashboard",
        "Graph",
        "Console",
    ]


def test_slack_shows_a_link_that_is_not_a_web_address_as_escaped_text_never_as_a_button() -> None:
    c = composer()
    evil = down(annotations={**ANNOTATIONS, "runbook_url": "javascript:alert('<@U1>')"}, generator_url="")
    body = blocks(c.message(evil), c)
    *_, as_text, actions = body["blocks"]
    assert as_text["elements"][0]["text"] == "Runbook: javascript:alert('&lt;@U1&gt;')"
    assert "runbook" not in [b["action_id"] for b in actions["elements"]]


def test_slack_cuts_a_long_description_to_block_kits_limits_and_drops_a_too_long_url_button() -> None:
    c = composer()
    long_url = "https://wiki.example.com/" + "x" * (BUTTON_URL + 10)
    n = down(annotations={**ANNOTATIONS, "description": "<&>" * 10_000 + " @channel", "runbook_url": long_url})
    body = blocks(c.message(n), c)
    section = body["blocks"][1]["text"]["text"]
    assert len(section) <= 3000
    assert section.endswith("…")
    assert not re.search(r"&[a-z]*…$", section)
    assert len(json.dumps(body)) < 10_000
    assert "runbook" not in [b["action_id"] for b in body["blocks"][-1]["elements"]]


def test_pagerduty_gets_links_with_text_and_the_console_as_its_client() -> None:
    c = composer()
    event = trigger(down(), c.message(down()))
    assert [link["text"] for link in event["links"]] == ["Acknowledge", "Runbook", "Dashboard", "Graph", "Console"]
    assert all(set(link) == {"href", "text"} for link in event["links"])
    assert (event["client"], event["client_url"]) == ("Monitoring receiver", f"{RECEIVER}/console/alerts/7")
    assert event["payload"]["custom_details"]["description"] == ANNOTATIONS["description"]
    bare = trigger(down(), default_composer().message(down()))
    assert "client_url" not in bare
    assert [link["text"] for link in bare["links"]] == ["Runbook", "Graph"]


def test_the_email_text_and_html_parts_carry_every_link_and_escape_the_html_part() -> None:
    c = composer()
    n = down(annotations={**ANNOTATIONS, "description": 'a <b>"quoted"</b> & more'})
    mail = message_from_bytes(
        compose(n, c.message(n), c, "a@example.com", ("b@example.com",)).as_bytes(), policy=policy.default
    )
    assert isinstance(mail, EmailMessage)
    text_part, html_part = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert 'a <b>"quoted"</b> & more' in text
    assert "a &lt;b&gt;&#34;quoted&#34;&lt;/b&gt; &amp; more" in html
    for name in ("Acknowledge", "Runbook", "Dashboard", "Graph", "Console"):
        assert re.search(rf"^{name}: https?://\S+$", text, re.M), name
        assert re.search(rf'<a href="https?://[^"]+"[^>]*>{name}</a>', html), name
    assert "&amp;var-service=asset-service&amp;from=" in html  # the & of a URL escaped in its attribute


def test_a_resolve_says_how_long_it_lasted_and_an_escalation_which_deadline_was_missed() -> None:
    c = composer()
    resolved = down(action="resolve", status="resolved", resolved_at=record().starts_at + 250)
    escalated = down(action="escalate", escalations=2, ack_deadline=300.0)
    assert "resolved after 4m 10s" in c.render(EMAIL_TEXT, c.message(resolved))
    assert "escalation 2: not acknowledged within 5m (the critical deadline)" in c.render(
        EMAIL_TEXT, c.message(escalated)
    )
    assert "Resolved after 4m 10s." in blocks(c.message(resolved), c)["blocks"][1]["text"]["text"]
    assert sms.text(c.message(resolved), c).startswith(
        "[CRITICAL] RESOLVED: ServiceDown (asset-service): resolved after 4m 10s: "
    )
    assert sms.text(c.message(escalated), c).startswith(
        "[CRITICAL] ESCALATED (not acknowledged): ServiceDown (asset-service): not acknowledged within 5m: "
    )
    assert document(escalated, c.message(escalated))["missedDeadline"] == "5m"
    assert document(resolved, c.message(resolved))["lasted"] == "4m 10s"


@pytest.mark.parametrize("summary", ["short", "x" * 10_000, "line\nbreak\r\nand\ttabs " * 200])
def test_an_sms_is_one_line_with_the_console_link_and_within_the_limit(summary: str) -> None:
    c = composer()
    n = down(annotations={**ANNOTATIONS, "summary": summary})
    line = sms.text(c.message(n), c)
    assert len(line) <= SMS_LIMIT
    assert line.isprintable()
    assert line.endswith(f" {RECEIVER}/console/alerts/7")
    assert "Acknowledge" not in line


def test_the_webhook_document_has_every_link_field_null_when_absent() -> None:
    n = down()
    bare = document(n, default_composer().message(n))
    assert bare["links"] == {
        "acknowledge": None,
        "runbook": ANNOTATIONS["runbook_url"],
        "dashboard": None,
        "graph": n.alert.generator_url,
        "console": None,
    }


def test_the_message_facts_take_the_instance_value_and_summary_fallback_from_the_alert() -> None:
    m = facts(down(annotations={"description": "only a description", "value": "93%"}))
    assert (m.summary, m.description, m.value, m.instance) == ("only a description", "", "93%", "10.0.0.1:8080")
    assert m.since == "2026-03-02 08:59:00 UTC"
