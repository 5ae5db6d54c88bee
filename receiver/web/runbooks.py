"""The runbooks, served as pages: ``/runbooks/`` lists them, ``/runbooks/<alert>`` shows one.

Their one source is ``receiver/web/runbooks.md`` (package data, so an installed receiver has it):
one ``## AlertName`` section per alert; consecutive headings share the text below them
(HostHighCpu, HostHighMemory and HostDiskAlmostFull have one runbook). A section's address is
its alert name in lower case, the same anchor GitHub gives the heading. Rendered once at start
with markdown-it-py (CommonMark, raw HTML off, unsafe link schemes refused) and shown in the
console's layout under its Content-Security-Policy. Public: documentation every notification
links to, with nothing of any alert in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, current_app, make_response, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup

from receiver.web.console import SECURITY_HEADERS

bp = Blueprint("runbooks", __name__, url_prefix="/runbooks", template_folder="templates")
SOURCE = Path(__file__).with_name("runbooks.md")


@dataclass(frozen=True)
class Runbook:
    slug: str
    title: str  # the alert name as written in the heading
    html: Markup  # markdown-it's HTML of our own packaged text, raw HTML off: trusted as markup


@dataclass(frozen=True)
class Runbooks:
    title: str
    intro_html: Markup
    pages: dict[str, Runbook]


def slug_of(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, spaces to hyphens, other punctuation dropped."""
    return re.sub(r"[^a-z0-9_-]", "", heading.strip().lower().replace(" ", "-"))


def load(source: Path = SOURCE) -> Runbooks:
    """Every section of ``source`` rendered to HTML, by the slug of each of its headings."""
    markdown = MarkdownIt("commonmark", {"html": False})
    text = source.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tokens = markdown.parse(text)
    headings: list[tuple[int, int, int, str]] = []  # (level, first line, line after, text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map is not None and token.tag in ("h1", "h2"):
            headings.append((int(token.tag[1]), token.map[0], token.map[1], tokens[i + 1].content))
    title = next((h[3] for h in headings if h[0] == 1), "Runbooks")
    sections = [h for h in headings if h[0] == 2]
    first = sections[0][1] if sections else len(lines)
    intro_start = next((h[2] for h in headings if h[0] == 1), 0)
    pages: dict[str, Runbook] = {}
    waiting: list[str] = []  # headings with no text of their own yet: they share the next text
    for n, (_, _, after, heading) in enumerate(sections):
        end = sections[n + 1][1] if n + 1 < len(sections) else len(lines)
        waiting.append(heading)
        body = "".join(lines[after:end])
        if not body.strip():
            continue
        rendered = Markup(markdown.render(body))  # noqa: S704 - our packaged Markdown, raw HTML disabled
        for name in waiting:
            pages[slug_of(name)] = Runbook(slug_of(name), name, rendered)
        waiting = []
    intro = Markup(markdown.render("".join(lines[intro_start:first])))  # noqa: S704 - as above
    return Runbooks(title, intro, pages)


def _page(status: int, **context: object) -> Response:
    response = make_response(render_template("console/runbook.html", **context), status)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "public, max-age=300"  # static text, unlike the console's pages
    return response


def _runbooks() -> Runbooks:
    runbooks: Runbooks = current_app.extensions["runbooks"]
    return runbooks


@bp.get("/")
def index() -> Response:
    runbooks = _runbooks()
    return _page(200, runbooks=runbooks, runbook=None)


@bp.get("/<slug>")
def page(slug: str) -> Response:
    runbooks = _runbooks()
    runbook = runbooks.pages.get(slug.lower())
    if runbook is None:
        return _page(404, runbooks=runbooks, runbook=None, missing=slug)
    return _page(200, runbooks=runbooks, runbook=runbook)
