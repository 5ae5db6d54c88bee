"""What a notification links to: acknowledge, runbook, dashboard, graph and console.

Only absolute http and https URLs become links; anything else an annotation holds (a
``javascript:`` URL, a repository path) is kept as text. Relative paths are resolved against a
configured base and must stay on its host: a rule's ``runbook_url`` of ``/runbooks/x`` against
``RECEIVER_EXTERNAL_URL``, its ``dashboard_url`` of ``/d/<uid>?viewPanel=<id>`` against
``RECEIVER_GRAFANA_URL``. A dashboard link gets a time range around the alert (``from``/``to``
in epoch milliseconds). Without the receiver's public URL there is no console or acknowledge
link; without Grafana's, no dashboard link.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from receiver.config.settings import NotificationConfig
from receiver.delivery.ack_links import AckLinks
from receiver.delivery.notification import Notification
from receiver.store.history import AlertRecord

URL_LIMIT = 2000  # characters; longer "URLs" are shown as text (Slack's button limit is 3000)
DASHBOARD_BEFORE = 3600.0  # seconds of graph before the alert started
DASHBOARD_AFTER = 900.0  # seconds after it resolved

ACKNOWLEDGE, RUNBOOK, DASHBOARD, GRAPH, CONSOLE = "acknowledge", "runbook", "dashboard", "graph", "console"
LABELS = {ACKNOWLEDGE: "Acknowledge", RUNBOOK: "Runbook", DASHBOARD: "Dashboard", GRAPH: "Graph", CONSOLE: "Console"}
ORDER = (ACKNOWLEDGE, RUNBOOK, DASHBOARD, GRAPH, CONSOLE)


@dataclass(frozen=True)
class Link:
    """``name``: one of ORDER; ``label``: what a button says; ``clickable``: an http(s) URL to link
    to (otherwise ``url`` is text from an annotation, shown as it is, escaped)."""

    name: str
    url: str
    clickable: bool = True

    @property
    def label(self) -> str:
        return LABELS[self.name]


def http_url(text: str) -> str | None:
    """``text`` when it is an absolute http(s) URL with a host, printable and without spaces."""
    url = text.strip()
    if not url or len(url) > URL_LIMIT or any(not ch.isprintable() or ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "\\" in url:
        return None
    return url


def on_base(base: str, path: str) -> str | None:
    """``base`` + ``path`` when ``path`` is a path of that base (``/...``, not ``//host``), else None."""
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    url = http_url(base + path)
    if url is None or urlsplit(url).netloc != urlsplit(base).netloc:
        return None
    return url


def with_time_range(url: str, start: float, end: float | None) -> str:
    """``url`` with Grafana's ``from`` and ``to`` (epoch ms; ``now`` while the alert fires)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("from", "to")]
    until = "now" if end is None else str(int((end + DASHBOARD_AFTER) * 1000))
    query += [("from", str(int((start - DASHBOARD_BEFORE) * 1000))), ("to", until)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


class LinkBuilder:
    """Builds a notification's links from its alert and the configuration. Each acknowledge link
    is a fresh single-use token (``AckLinks``) that expires ``RECEIVER_ACK_LINK_TTL`` after it is sent."""

    def __init__(self, config: NotificationConfig, ack_links: AckLinks | None = None) -> None:
        self._config = config
        self._ack_links = ack_links

    @property
    def ack_links(self) -> AckLinks | None:
        return self._ack_links

    def links(self, n: Notification) -> tuple[Link, ...]:
        alert = n.alert
        external, grafana = self._config.external_url, self._config.grafana_url
        found: dict[str, Link] = {}
        acknowledgeable = n.action in ("trigger", "escalate") and alert.status == "firing" and alert.acked_at is None
        if external is not None and self._ack_links is not None and acknowledgeable:
            found[ACKNOWLEDGE] = Link(ACKNOWLEDGE, f"{external}/console/ack/{self._ack_links.token(alert.id)}")
        runbook = alert.annotations.get("runbook_url", "").strip()
        if runbook:
            url = http_url(runbook) or (on_base(external, runbook) if external is not None else None)
            found[RUNBOOK] = Link(RUNBOOK, url or runbook, clickable=url is not None)
        dashboard = alert.annotations.get("dashboard_url", "").strip()
        if dashboard:
            url = http_url(dashboard) or (on_base(grafana, dashboard) if grafana is not None else None)
            if url is not None:
                found[DASHBOARD] = Link(DASHBOARD, with_time_range(url, alert.starts_at, alert.resolved_at))
            elif not dashboard.startswith("/"):  # not a Grafana path: shown as text, never as a link
                found[DASHBOARD] = Link(DASHBOARD, dashboard, clickable=False)
        graph = alert.generator_url.strip()
        if graph:
            url = http_url(graph)
            found[GRAPH] = Link(GRAPH, url or graph, clickable=url is not None)
        if external is not None:
            found[CONSOLE] = Link(CONSOLE, f"{external}/console/alerts/{alert.id}")
        return tuple(found[name] for name in ORDER if name in found)

    def references(self, alert: AlertRecord) -> tuple[Link, ...]:
        """Where to read about an alert and look at it (runbook, dashboard, graph): what the console's
        alert page links to, resolved as in the notifications."""
        return tuple(
            link for link in self.links(Notification(alert, "view")) if link.name in (RUNBOOK, DASHBOARD, GRAPH)
        )
