"""Message templates. Alert text is escaped for HTML and Slack; destinations never come from alerts."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from string import Template

from receiver.delivery.notification import Notification

_VERB = {
    "trigger": "FIRING",
    "resolve": "RESOLVED",
    "escalate": "ESCALATED (not acknowledged)",
    "acknowledge": "ACKNOWLEDGED",
    "update": "UPDATE",
}

TEXT = Template("""$title

$summary
$description
priority: $priority  service: $service  since: $since
labels:
$labels
$link$incident""")

HTML = Template("""<html><body>
<h2>$title</h2>
<p>$summary</p>
<p>$description</p>
<p>priority: <b>$priority</b> &middot; service: $service &middot; since: $since</p>
<table>$labels</table>
<p>$link</p>$incident
</body></html>""")


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


def alert_name(n: Notification) -> str:
    """``ServiceDown (transaction-service)``."""
    alert = n.alert
    return f"{alert.alertname} ({alert.service})" if alert.service else alert.alertname


def title(n: Notification) -> str:
    if n.action == "update" and n.incident is not None:
        incident = n.incident
        text = (
            f"[{incident.priority.upper()}] UPDATE: incident {incident.id} ({incident.title}): {alert_name(n)} joined"
        )
    else:
        text = f"[{n.alert.priority.upper()}] {_VERB.get(n.action, n.action)}: {alert_name(n)}"
    return truncate(one_line(text), TITLE_LIMIT)  # one line: no CR/LF from labels


def incident_line(n: Notification) -> str:
    """What the incident says in one line: ``incident 12, 3 alerts, probable cause ServiceDown (...)``."""
    incident = n.incident
    if incident is None:
        return ""
    role = "this alert" if incident.cause_alert_id == n.alert.id else incident.title
    alerts = f"{incident.alerts} alert{'s' if incident.alerts != 1 else ''}"
    return one_line(f"incident {incident.id}, {alerts}, probable cause {role}")


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


def summary(n: Notification) -> str:
    annotations = n.alert.annotations
    return annotations.get("summary") or annotations.get("description") or n.alert.alertname


def since(n: Notification) -> str:
    return datetime.fromtimestamp(n.alert.starts_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def text(n: Notification) -> str:
    alert = n.alert
    return TEXT.substitute(
        title=title(n),
        summary=summary(n),
        description=alert.annotations.get("description", ""),
        priority=alert.priority,
        service=alert.service or "-",
        since=since(n),
        labels="\n".join(f"  {k}={v}" for k, v in sorted(alert.labels.items())),
        link=alert.generator_url,
        incident=f"\n{incident_line(n)}" if n.incident is not None else "",
    )


def html_body(n: Notification) -> str:
    alert = n.alert
    e = html.escape
    return HTML.substitute(
        title=e(title(n)),
        summary=e(summary(n)),
        description=e(alert.annotations.get("description", "")),
        priority=e(alert.priority),
        service=e(alert.service or "-"),
        since=e(since(n)),
        labels="".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in sorted(alert.labels.items())),
        link=f'<a href="{e(alert.generator_url)}">source</a>' if alert.generator_url.startswith("http") else "",
        incident=f"\n<p>{e(incident_line(n))}</p>" if n.incident is not None else "",
    )


def slack_escape(value: str, limit: int = SLACK_SECTION_LIMIT) -> str:
    """Slack mrkdwn control characters (&, <, >) become entities, so labels cannot inject links or
    ``<!channel>``; a bare @channel, @here or @everyone gets a zero-width space after the ``@`` so
    it is not a mention either. Cut to ``limit`` characters without splitting an entity."""
    escaped = _MENTION.sub("@\u200b", html.escape(value, quote=False))
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + "…"


SMS_LIMIT = 300  # characters; Twilio accepts up to 1600, three segments is plenty for a page


def short(n: Notification, limit: int = SMS_LIMIT) -> str:
    """One line for SMS."""
    return truncate(one_line(f"{title(n)}: {summary(n)}"), limit)


DIGEST_HTML = Template("""<html><body>
<h2>$count notifications</h2>
<ul>$items</ul>
</body></html>""")


def digest_text(notifications: Sequence[Notification]) -> str:
    lines = [f"{len(notifications)} notifications", ""]
    lines += [f"- {title(n)}: {' '.join(summary(n).split())} (since {since(n)})" for n in notifications]
    return "\n".join(lines) + "\n"


def digest_html(notifications: Sequence[Notification]) -> str:
    e = html.escape
    items = "".join(f"<li><b>{e(title(n))}</b>: {e(summary(n))} (since {e(since(n))})</li>" for n in notifications)
    return DIGEST_HTML.substitute(count=len(notifications), items=items)
