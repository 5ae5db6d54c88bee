"""Prometheus memory per active series: the per-unit figure behind where Prometheus needs sharding.

A real Prometheus (the Debian package the tests use) scrapes one target every second for
``SCRAPE_SECONDS``; the target exposes ``SERIES`` gauge series (labels the size of the
exporter's: topic, source, type). Its resident set size then, against the same Prometheus
scraping a target with no series of its own, in the same run, gives bytes per active series
(head block: series, postings, chunks of the last samples). Samples per second are the other
cost; both are reported so docs/operations.md can say when a Prometheus (pair) is full.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.report import RESULTS, Result, render, write
from bench.rounds import Figures
from tests import services
from tests.processes import start_prometheus

SERIES = 200_000
SCRAPE_SECONDS = 40


def exposition(series: int) -> bytes:
    lines = ["# TYPE bench_series gauge"]
    lines += [
        f'bench_series{{topic="platform.events.{i % 50}",source="service-{i % 97}",type="EventType{i}"}} {i}'
        for i in range(series)
    ]
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rss_bytes(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def head_series(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/status/tsdb", timeout=10) as response:
        return float(json.load(response)["data"]["headStats"]["numSeries"])


def prometheus_rss(series: int) -> tuple[float, float]:
    """(RSS bytes, head series) of a Prometheus after SCRAPE_SECONDS scraping ``series`` series."""
    target = serve(exposition(series))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as workdir:
            port = services.free_port()
            config = (
                "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                "scrape_configs:\n"
                f"  - {{job_name: bench, static_configs: [{{targets: ['127.0.0.1:{target.server_port}']}}]}}\n"
            )
            server = start_prometheus(services.binary("prometheus", "prometheus"), config, Path(workdir), port)
            try:
                time.sleep(SCRAPE_SECONDS)
                return rss_bytes(server.proc.pid), head_series(port)
            finally:
                server.stop()
    finally:
        target.shutdown()


def run() -> list[Result]:
    empty, empty_series = prometheus_rss(0)
    full, full_series = prometheus_rss(SERIES)
    per_series = (full - empty) / (full_series - empty_series)
    return [
        Result(
            f"Prometheus RSS with {full_series:,.0f} active series, 1 s scrapes for {SCRAPE_SECONDS} s",
            Figures.once(full / 2**20),
            "MiB",
            f"the same with {empty_series:,.0f} series",
            Figures.once(empty / 2**20),
            f"{per_series:,.0f} bytes per active series",
        )
    ]


if __name__ == "__main__":
    measured = run()
    print(render(measured))
    print(f"\nwritten to {write(measured, RESULTS / 'prometheus-series.json')}")
    sys.exit(0)
