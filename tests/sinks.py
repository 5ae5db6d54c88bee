"""A local HTTP server that records every request: the stand-in for webhooks and paid APIs."""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = 0.0  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, headers, and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class RecordingSink:
    """Records requests; answers each with ``status`` (settable while running).

    ``script`` holds answers used first, one per request, in order (e.g. three 503s, then a
    429 with Retry-After); ``body`` builds the body of the default answer, so a sink can speak
    an API whose clients read the response (PagerDuty's ``dedup_key``); ``delay`` stalls every
    answer, to stand in for a hanging endpoint.
    """

    status: int = 200
    requests: list[RecordedRequest] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    body: Callable[[RecordedRequest], bytes] | None = None
    delay: float = 0.0
    tls: ssl.SSLContext | None = None  # serve HTTPS (APIs whose clients insist on https://)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    url: str = ""

    def start(self) -> str:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = RecordedRequest(self.command, self.path, dict(self.headers), body, time.monotonic())
                with sink._lock:
                    sink.requests.append(recorded)
                    scripted = sink.script.pop(0) if sink.script else None
                if sink.delay:
                    time.sleep(sink.delay)
                if scripted is None:
                    content = sink.body(recorded) if sink.body is not None else b""
                    scripted = Reply(sink.status, {"Content-Type": "application/json"} if content else {}, content)
                try:
                    self.send_response(scripted.status)
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(scripted.body)))
                    self.end_headers()
                    self.wfile.write(scripted.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a stalled endpoint); the request is recorded

            do_POST = do_PUT = do_GET = _record  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        scheme = "http"
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests within {timeout}s, got {len(self.requests)}")

    def received(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, made with the openssl command: (cert.pem, key.pem)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.sinks [--status N] [--delay SECONDS]``: one sink in a process of its own (the
    benchmarks' channel endpoints, which must not share the load generator's interpreter). Prints its
    URL, then answers until it is terminated."""
    parser = argparse.ArgumentParser(prog="python -m tests.sinks", description=main.__doc__)
    parser.add_argument("--status", type=int, default=200, help="the answer's status code")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to stall every answer")
    args = parser.parse_args(argv)
    print(RecordingSink(status=args.status, delay=args.delay).start(), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
