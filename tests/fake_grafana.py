"""A stand-in for Grafana's dashboard URLs, since Grafana cannot run on this machine.

It answers ``GET /d/<uid>[/<slug>]?viewPanel=<id>...`` with 200 only when ``<uid>`` is a dashboard
of grafana/dashboards/*.json, ``<slug>`` (when given) is that dashboard's, and ``viewPanel`` (when
given) is a panel of it; anything else is 404. Following a notification's dashboard link to it
proves the dashboard and the panel the rule names exist. Every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DASHBOARDS = Path(__file__).resolve().parents[1] / "grafana" / "dashboards"


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def dashboards(folder: Path = DASHBOARDS) -> dict[str, tuple[str, set[int]]]:
    """uid -> (slug, panel ids)."""
    out = {}
    for path in folder.glob("*.json"):
        board = json.loads(path.read_text())
        out[board["uid"]] = (slug(board["title"]), {int(p["id"]) for p in board["panels"] if p["type"] != "row"})
    return out


def answer(path_and_query: str, known: dict[str, tuple[str, set[int]]]) -> int:
    """The status Grafana-as-a-test gives ``path_and_query``."""
    parts = urlsplit(path_and_query)
    match = re.fullmatch(r"/d/([\w-]+)(?:/([\w-]+))?/?", parts.path)
    if match is None or match.group(1) not in known:
        return 404
    board_slug, panels = known[match.group(1)]
    if match.group(2) is not None and match.group(2) != board_slug:
        return 404
    query = parse_qs(parts.query)
    for panel in query.get("viewPanel", []):
        if not panel.removeprefix("panel-").isdigit() or int(panel.removeprefix("panel-")) not in panels:
            return 404
    return 200


@dataclass
class FakeGrafana:
    requests: list[tuple[str, int]] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        known = dashboards()
        grafana = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = answer(self.path, known)
                with grafana._lock:
                    grafana.requests.append((self.path, status))
                body = b"<!doctype html><title>Grafana stand-in</title>"
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
