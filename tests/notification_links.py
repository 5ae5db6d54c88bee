"""Every link a delivered notification carries, per channel, and following them as a person would.

Used by the end-to-end tests (a real Alertmanager to the receiver, the whole pipeline, `make run`):
each link must answer 200 once redirects are followed (the console's sign-in page for a console
link opened without a key).
"""

from __future__ import annotations

import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from email.message import Message
from typing import Any

from tests.sinks import RecordedRequest

URL = re.compile(r"https?://[^\s<>\"']+")


def slack(request: RecordedRequest) -> list[str]:
    """The URLs of a Slack message's link buttons."""
    blocks = request.json()["blocks"]
    return [e["url"] for b in blocks if b["type"] == "actions" for e in b["elements"] if "url" in e]


def pagerduty(request: RecordedRequest) -> list[str]:
    event = request.json()
    found = [link["href"] for link in event.get("links", [])]
    return found + ([event["client_url"]] if "client_url" in event else [])


def sms(request: RecordedRequest) -> list[str]:
    """The console link, the SMS's last word (the alert's own text before it may hold any URL)."""
    [body] = urllib.parse.parse_qs(request.body.decode())["Body"]
    last = body.rsplit(" ", 1)[-1]
    return [last] if URL.fullmatch(last) else []


def webhook_document(document: Mapping[str, Any]) -> list[str]:
    return [url for url in document.get("links", {}).values() if url]


def webhook(request: RecordedRequest) -> list[str]:
    return webhook_document(request.json())


def file_lines(text: str) -> list[str]:
    return [url for line in text.splitlines() if line.strip() for url in webhook_document(json.loads(line))]


LINK_LINE = re.compile(r"^(?:Acknowledge|Runbook|Dashboard|Graph|Console): (https?://\S+)\r?$", re.M)


def email(mail: Message) -> list[str]:
    """The links of the text part (``Runbook: <url>`` lines) and the HTML part's hrefs."""
    found: list[str] = []
    for part in mail.walk():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(errors="replace")
        if part.get_content_type() == "text/plain":
            found += LINK_LINE.findall(text)
        elif part.get_content_type() == "text/html":
            found += [html.unescape(h) for h in re.findall(r'href="([^"]+)"', text)]
    return found


def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """GET ``url`` following redirects: (final status, final URL, body)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - loopback test URLs
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback test URLs
            return int(response.status), response.geturl(), response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.geturl(), exc.read().decode(errors="replace")


def follow_all(urls: Iterable[str]) -> dict[str, int]:
    """Each distinct URL once (as an unfurler would), without credentials: URL -> final status."""
    return {url: get(url)[0] for url in dict.fromkeys(urls)}
