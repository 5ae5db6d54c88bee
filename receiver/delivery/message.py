"""What a notification says, as data: the facts every channel carries and their links.

``facts`` turns a notification into a ``Message`` (title, summary, description, value, priority,
service, instance, since, how long it lasted, which deadline was missed, labels, links); the
message templates (``receiver.delivery.templates``) word it and each channel lays it out within
its own limits. Alert text is escaped for HTML and Slack; destinations never come from alerts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from string import Template

from receiver.delivery.links import Link
from receiver.delivery.notification import Notification

VERBS = {
    "trigger": "FIRING",
    "resolve": "RESOLVED",
    "escalate": "ESCALATED (not acknowledged)",
    "acknowledge": "ACKNOWLEDGED",
    "update": "UPDATE",  # an alert joined an incident: a follow-up, not a page
}

TITLE_LIMIT = 250  # characters: a subject line, a page's summary, a console line
SLACK_SECTION_LIMIT = 3000  # Block Kit: a section's text
SLACK_FIELD_LIMIT = 2000  # Block Kit: each of a section's fields
SLACK_HEADER_LIMIT = 150  # Block Kit: a header's plain text
_MENTION = re.compile(r"@(?=(channel|here|everyone)\b)", re.IGNORECASE)
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def one_line(value: str) -> str:
    """Printable characters on one line: CR/LF, other controls and invisible format characters
    (which could forge e-mail headers, move a terminal's cursor or hide text) become spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def duration_text(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``: the two largest units."""
    whole = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size or (unit == "s" and not parts):
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return " ".join(parts[:2])


def utc_text(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Message:
    """Everything a notification says. Text fields are the alert's own (untrusted) text: each
    output format escapes it. ``lasted`` is set on resolves, ``missed_deadline`` on escalations."""

    alert_id: int
    action: str  # trigger | resolve | escalate | acknowledge | update
    verb: str
    title: str  # one line, at most TITLE_LIMIT characters
    alertname: str
    status: str
    priority: str
    service: str
    instance: str
    summary: str
    description: str
    value: str
    since: str
    lasted: str
    missed_deadline: str
    escalations: int
    fallback: bool
    labels: tuple[tuple[str, str], ...]
    links: tuple[Link, ...]
    # The incident it speaks for (docs/alerting.md, "Incidents"); None and empty when the alert pages alone.
    incident_id: int | None = None
    incident_title: str = ""  # its probable cause: "ServiceDown (transaction-service)"
    incident_priority: str = ""
    incident_alerts: int = 0
    incident_line: str = ""  # "incident 12, 3 alerts, probable cause ServiceDown (transaction-service)"

    def link(self, name: str) -> Link | None:
        """The clickable link called ``name`` (acknowledge, runbook, dashboard, graph, console), if any."""
        return next((k for k in self.links if k.name == name and k.clickable), None)

    def context(self) -> dict[str, object]:
        """The variables the message templates see."""
        clickable = {k.name: k.url for k in self.links if k.clickable}
        return {
            "title": self.title,
            "action": self.action,
            "verb": self.verb,
            "alert_id": self.alert_id,
            "alertname": self.alertname,
            "status": self.status,
            "priority": self.priority,
            "service": self.service,
            "instance": self.instance,
            "summary": self.summary,
            "description": self.description,
            "value": self.value,
            "since": self.since,
            "lasted": self.lasted,
            "missed_deadline": self.missed_deadline,
            "escalations": self.escalations,
            "fallback": self.fallback,
            "labels": list(self.labels),
            "links": list(self.links),
            "incident_id": self.incident_id,
            "incident_title": self.incident_title,
            "incident_priority": self.incident_priority,
            "incident_alerts": self.incident_alerts,
            "incident_line": self.incident_line,
            **{
                f"{name}_url": clickable.get(name)
                for name in ("acknowledge", "runbook", "dashboard", "graph", "console")
            },
        }


def default_title(n: Notification) -> str:
    alert = n.alert
    service = f" ({alert.service})" if alert.service else ""
    if n.action == "update" and n.incident is not None:
        incident = n.incident
        return (
            f"[{incident.priority.upper()}] UPDATE: incident {incident.id} ({incident.title}): "
            f"{alert.alertname}{service} joined"
        )
    return f"[{alert.priority.upper()}] {VERBS.get(n.action, n.action)}: {alert.alertname}{service}"


def incident_line(n: Notification) -> str:
    """The incident in one line: ``incident 12, 3 alerts, probable cause ServiceDown (...)``."""
    incident = n.incident
    if incident is None:
        return ""
    cause = "this alert" if incident.cause_alert_id == n.alert.id else incident.title
    alerts = f"{incident.alerts} alert{'s' if incident.alerts != 1 else ''}"
    return one_line(f"incident {incident.id}, {alerts}, probable cause {cause}")


def incident_document(n: Notification) -> dict[str, object]:
    """The incident as machine integrations (webhook, file, PagerDuty's details) get it."""
    incident = n.incident
    assert incident is not None
    return {
        "id": incident.id,
        "key": incident.key,
        "title": incident.title,
        "priority": incident.priority,
        "status": incident.status,
        "causeAlertId": incident.cause_alert_id,
        "alerts": incident.alerts,
    }


def title_line(text: str) -> str:
    """A rendered title as one line (no CR/LF from labels) within TITLE_LIMIT."""
    return truncate(one_line(text), TITLE_LIMIT)


def facts(n: Notification, links: Sequence[Link] = ()) -> Message:
    """The notification's facts, titled with the default title (templates may reword it)."""
    alert = n.alert
    annotations = alert.annotations
    summary = annotations.get("summary") or annotations.get("description") or alert.alertname
    description = annotations.get("description", "") if annotations.get("summary") else ""
    end = alert.resolved_at if alert.resolved_at is not None else alert.last_seen
    return Message(
        alert_id=alert.id,
        action=n.action,
        verb=VERBS.get(n.action, n.action),
        title=title_line(default_title(n)),
        alertname=alert.alertname,
        status=alert.status,
        priority=alert.priority,
        service=alert.service,
        instance=alert.labels.get("instance", ""),
        summary=summary,
        description=description,
        value=annotations.get("value", ""),
        since=utc_text(alert.starts_at),
        lasted=duration_text(end - alert.starts_at) if n.action == "resolve" else "",
        missed_deadline=duration_text(n.ack_deadline) if n.action == "escalate" and n.ack_deadline else "",
        escalations=alert.escalations,
        fallback=n.fallback,
        labels=tuple(sorted(alert.labels.items())),
        links=tuple(links),
        incident_id=None if n.incident is None else n.incident.id,
        incident_title="" if n.incident is None else n.incident.title,
        incident_priority="" if n.incident is None else n.incident.priority,
        incident_alerts=0 if n.incident is None else n.incident.alerts,
        incident_line=incident_line(n),
    )


def slack_escape(value: str, limit: int = SLACK_SECTION_LIMIT) -> str:
    """Slack mrkdwn control characters (&, <, >) become entities, so labels cannot inject links or
    ``<!channel>``; a bare @channel, @here or @everyone gets a zero-width space after the ``@`` so
    it is not a mention either. Cut to ``limit`` characters without splitting an entity."""
    escaped = _MENTION.sub("@\u200b", html.escape(value, quote=False))
    return slack_truncate(escaped, limit)


def slack_truncate(mrkdwn: str, limit: int) -> str:
    """Cut mrkdwn to ``limit`` characters without splitting an entity or a ``<url|text>`` link."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = _PARTIAL_ENTITY.sub("", mrkdwn[: limit - 1])
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut + "…"


SMS_LIMIT = 300  # characters; Twilio accepts up to 1600, three segments is plenty for a page


def sms_line(text: str, console_url: str | None, limit: int = SMS_LIMIT) -> str:
    """One line within ``limit``: the rendered text, cut to leave room for the console link."""
    tail = f" {console_url}" if console_url else ""
    if len(tail) > limit // 2:  # an absurdly long console URL: the words matter more
        tail = ""
    return truncate(one_line(text), limit - len(tail)) + tail


DIGEST_HTML = Template("""<html><body>
<h2>$count notifications</h2>
<ul>$items</ul>
</body></html>""")


def digest_text(messages: Sequence[Message]) -> str:
    lines = [f"{len(messages)} notifications", ""]
    for m in messages:
        links = "".join(f" {k.label}: {k.url}" for k in m.links if k.clickable and k.name != "acknowledge")
        lines.append(f"- {m.title}: {one_line(m.summary)} (since {m.since}){links}")
    return "\n".join(lines) + "\n"


def digest_html(messages: Sequence[Message]) -> str:
    e = html.escape
    items = "".join(
        f"<li><b>{e(m.title)}</b>: {e(m.summary)} (since {e(m.since)})"
        + "".join(f' <a href="{e(k.url)}">{e(k.label)}</a>' for k in m.links if k.clickable and k.name != "acknowledge")
        + "</li>"
        for m in messages
    )
    return DIGEST_HTML.substitute(count=len(messages), items=items)
