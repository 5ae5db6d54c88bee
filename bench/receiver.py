"""Receiver webhook throughput and latency under gunicorn on PostgreSQL, against a bare COPY.

Three measurements, each in the same run as its baseline:
- throughput: 10-alert Alertmanager groups posted by concurrent clients to ``monitoring receiver``
  (gunicorn, 4 workers, delivery off so only intake is measured); every alert row and its
  notification jobs are committed before the 2xx. Baseline: psycopg ``COPY`` of the same rows
  (alerts and outbox jobs) into the same tables.
- p99 latency at a paced 50 webhooks/s with delivery on and healthy channel endpoints.
- the same p99 while every channel endpoint fails (503) or stalls past the send timeout:
  it must stay within 1.2x of the healthy p99, which shows delivery is off the request path.

The four in interleaved rounds (bench/rounds.py), each round with its own alert fingerprints.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import quantiles

import psycopg
from psycopg import sql

from bench.report import Result
from bench.rounds import Figures, Samples, interleave
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory
from tests.services import free_port, postgres_uri
from tests.sinks import RecordingSink

GROUP = 10
THROUGHPUT_SECONDS = 5.0
PACED_SECONDS = 6.0
PACED_RATE = 50.0
CLIENTS = 8
TOKEN = "bench-webhook-token"  # noqa: S105 - the benchmark's own receiver
WORKERS = "4"  # 2 per core; each stores up to RECEIVER_MAX_INFLIGHT (4) webhooks at once


@contextmanager
def fresh_database() -> Iterator[str]:
    server = postgres_uri()
    name = f"bench_receiver_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def receiver(uri: str, **env: str) -> Iterator[int]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_MULTIPROC"))}
    environment.update(
        {
            "POSTGRES_URI": uri,
            "RECEIVER_PORT": str(port),
            "RECEIVER_WORKERS": WORKERS,
            "LOG_LEVEL": "warning",
            "RECEIVER_WEBHOOK_TOKEN": TOKEN,
            "RECEIVER_EGRESS_ALLOW": "127.0.0.1",
            **env,
        }
    )
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "ops.cli", "receiver"], env=environment, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"receiver did not start:\n{log.read().decode(errors='replace')[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                        if r.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(30)


def payload(tag: str, seq: int, priority: str = "medium") -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": f"Bench{i}", "priority": priority, "service": "portfolio", "run": tag},
            "annotations": {"summary": "benchmark alert", "description": "a realistic few words of text"},
            "startsAt": "2026-03-02T08:59:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": f"{tag}{seq:08x}{i:02x}",
        }
        for i in range(GROUP)
    ]
    return json.dumps(
        {
            "version": "4",
            "groupKey": f"{{}}:{{run={tag!r}}}",
            "status": "firing",
            "receiver": "receiver",
            "alerts": alerts,
        }
    ).encode()


def post(port: int, body: bytes) -> float:
    """One webhook; its latency in seconds. Raises on anything but 200."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        conn.request("POST", "/api/v1/alerts/alertmanager", body, headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"webhook answered {response.status}")
    return time.perf_counter() - started


def throughput(port: int, tag: str = "t") -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + THROUGHPUT_SECONDS

    def client(n: int) -> None:
        seq = 0
        mine: list[float] = []
        while time.monotonic() < stop_at:
            mine.append(post(port, payload(f"{tag}{n}x", seq)))
            seq += 1
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(THROUGHPUT_SECONDS + 60)
    return len(latencies) * GROUP / (time.perf_counter() - started), latencies


def paced(port: int, tag: str) -> list[float]:
    for seq in range(20):  # warm up every worker's connection pool first
        post(port, payload(f"{tag}w", seq, priority="critical"))
    latencies = []
    interval = 1.0 / PACED_RATE
    start = time.monotonic()
    for seq in range(int(PACED_SECONDS * PACED_RATE)):
        delay = start + seq * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        latencies.append(post(port, payload(tag, seq, priority="critical")))
    return latencies


def copy_baseline(uri: str, alerts: int, tag: str = "copy") -> float:
    """Alerts/s for COPY of the same rows (each alert plus its two outbox jobs) into the same tables."""
    now = time.time()
    rows = [
        (f"{tag}{n:010x}", now, f"Bench{n % GROUP}", "firing", "medium", False, "portfolio",
         json.dumps({"alertname": f"Bench{n % GROUP}", "priority": "medium", "service": "portfolio"}),
         json.dumps({"summary": "benchmark alert"}), "h", "http://prometheus:9090/graph", now, now, now + 86400)
        for n in range(alerts)
    ]  # fmt: skip
    started = time.perf_counter()
    with psycopg.connect(uri) as conn, conn.cursor() as cur:
        columns = (
            "fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, labels, "
            "annotations, content_hash, generator_url, first_seen, last_seen, escalate_at"
        )
        with cur.copy(f"COPY alerts ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute("SELECT id FROM alerts WHERE fingerprint LIKE %s ORDER BY id", (f"{tag}%",))
        ids = [r[0] for r in cur.fetchall()]
        with cur.copy(
            "COPY outbox (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, "
            "next_attempt_at) FROM STDIN"
        ) as copy:
            for alert_id in ids:
                for channel in ("slack", "email"):
                    copy.write_row((alert_id, channel, "trigger", "pending", 0, 5, False, now, now))
    return alerts / (time.perf_counter() - started)


def p(latencies: list[float], q: int) -> float:
    return quantiles(latencies, n=100, method="inclusive")[q - 1] * 1_000_000  # µs


def run() -> list[Result]:
    samples = Samples()
    with fresh_database() as uri:
        database = PostgresDatabase(uri)
        SqlAlertHistory(database).migrate()
        database.close()
        # Channels "configured" to a closed port: intake writes their jobs; delivery is off here.
        dead = f"http://127.0.0.1:{free_port()}"
        intake_rates: list[float] = []

        def intake() -> None:
            tag = f"r{len(intake_rates)}t"
            with receiver(uri, RECEIVER_DELIVERY="off", RECEIVER_SLACK_WEBHOOK_URL=dead, RECEIVER_SMTP_HOST="127.0.0.1",
                          RECEIVER_EMAIL_FROM="a@example.com", RECEIVER_EMAIL_TO="b@example.com") as port:  # fmt: skip
                post(port, payload(f"{tag}warm", 0))
                rate, loaded = throughput(port, tag)
            intake_rates.append(rate)
            samples.add("intake", rate)
            samples.add("p50 loaded", p(loaded, 50))
            samples.add("p99 loaded", p(loaded, 99))

        def copy() -> None:
            alerts = int(intake_rates[-1] * THROUGHPUT_SECONDS)  # as many as the last intake (it runs first)
            samples.add("copy", copy_baseline(uri, alerts, f"copy{samples.count('copy')}x"))

        healthy, broken = RecordingSink(), RecordingSink(status=503)
        stalled = RecordingSink(delay=3.0)
        for sink in (healthy, broken, stalled):
            sink.start()
        channels = {
            "RECEIVER_POLL_INTERVAL": "100ms",
            "RECEIVER_SEND_TIMEOUT": "1s",
            "RECEIVER_RETRY_BASE": "200ms",
            **{"RECEIVER_SMS_ACCOUNT_SID": "AC1", "RECEIVER_SMS_AUTH_TOKEN": "t"},
            **{"RECEIVER_SMS_FROM": "+1", "RECEIVER_SMS_TO": "+2"},
        }
        paced_rounds = {"good": 0, "bad": 0}

        def paced_p99(kind: str, slack: str, sms: str) -> None:
            tag = f"{kind}{paced_rounds[kind]}x"
            paced_rounds[kind] += 1
            with receiver(uri, RECEIVER_SLACK_WEBHOOK_URL=slack, RECEIVER_SMS_API_URL=sms, **channels) as port:
                samples.add(kind, p(paced(port, tag), 99))

        try:
            interleave(
                [
                    intake,
                    copy,
                    lambda: paced_p99("good", healthy.url, healthy.url),
                    lambda: paced_p99("bad", stalled.url, broken.url),
                ]
            )
        finally:
            for sink in (healthy, broken, stalled):
                sink.stop()
    return [
        Result("receiver webhook intake, 10-alert groups + outbox (gunicorn, PG)", samples["intake"], "alerts/s",
               "psycopg COPY of the same rows", samples["copy"], ">= 5,000 alerts/s and >= 0.1x"),
        Result("receiver webhook p50 at full load", samples["p50 loaded"], "µs", "p99 at full load",
               samples["p99 loaded"]),
        Result("receiver webhook p99 at 50 webhooks/s, healthy channels", samples["good"], "µs", "goal 50 ms",
               Figures.constant(50_000), "ratio < 1"),
        Result("receiver webhook p99 at 50 webhooks/s, channels failing/stalling", samples["bad"], "µs",
               "p99 with healthy channels", samples["good"], "<= 1.2x"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.report import render

    print(render(run()))
    print(f"({Path(__file__).name}: {THROUGHPUT_SECONDS}s load, {PACED_SECONDS}s paced per phase)")
