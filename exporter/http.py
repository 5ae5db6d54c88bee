"""The exporter's HTTP surface: /metrics, /healthz and /readyz, as one WSGI app, over HTTP or TLS
(``EXPORTER_WEB_CONFIG``, see exporter/web_config.py)."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app


def create_app(registry: CollectorRegistry, ready: Callable[[], bool]) -> Callable[..., Iterable[bytes]]:
    metrics_app = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body: Iterable[bytes] = metrics_app(environ, start_response)
            return body
        if path == "/healthz":
            return _text(start_response, "200 OK", b"ok\n")
        if path == "/readyz":
            if ready():
                return _text(start_response, "200 OK", b"ready\n")
            return _text(start_response, "503 Service Unavailable", b"not ready\n")
        return _text(start_response, "404 Not Found", b"not found: try /metrics, /healthz, /readyz\n")

    return app


def _text(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        if self.tls is None:
            return conn, address
        # The handshake runs in the request's own thread (_QuietHandler.setup): a slow or plain-HTTP
        # client cannot hold up the accept loop.
        return self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a failed handshake or a dropped connection is the client's problem; no traceback


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10.0)
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        return None


class HttpServer:
    """Serves ``app`` on a background thread; ``stop()`` shuts it down and joins."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self._server = _ThreadingWSGIServer((host, port), _QuietHandler)  # what wsgiref's make_server does
        self._server.set_app(app)
        self._server.tls = tls
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
