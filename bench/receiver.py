"""Receiver webhook throughput and latency under gunicorn on PostgreSQL, against a bare COPY.

In interleaved rounds (bench/rounds.py: subject and baseline side by side, the order reversed
every other round, medians and spreads, the load with each figure), each round with its own
alert fingerprints:

- throughput (``intake``): 10-alert Alertmanager groups posted by ``CLIENTS`` threads, each over
  its own persistent connection as Alertmanager's HTTP client keeps one, to ``monitoring
  receiver`` (gunicorn, ``WORKERS`` workers) with ``RECEIVER_DELIVERY=off``, so only intake runs:
  every alert row, its timeline entry, its notification jobs and its domain event are committed
  before the 2xx. Baseline (``copy``): psycopg ``COPY`` of the same rows (alerts and outbox jobs)
  into the same tables.
- latency (``paced_p99``): p99 at a paced 50 webhooks/s of critical alerts with the delivery
  process sending every notification to healthy channel endpoints, against the same while every
  endpoint fails (503) or stalls past the send timeout. The endpoints run in a process of their
  own (``python -m tests.sinks``), so their work does not share the load generator's interpreter.
- round trips to PostgreSQL per webhook (``round_trips``), counted in libpq's protocol trace.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
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
from receiver.config.routing import RoutingPolicy
from receiver.intake.observations import observe
from receiver.intake.payload import decode_payload
from receiver.store.database import PostgresDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.sql_history import SqlAlertHistory
from tests.round_trips import TracedDatabase
from tests.services import free_port, postgres_uri

GROUP = 10
THROUGHPUT_SECONDS = 5.0
PACED_SECONDS = 8.0
PACED_RATE = 50.0
CLIENTS = 8
TOKEN = "bench-webhook-token"  # noqa: S105 - the benchmark's own receiver
WORKERS = "4"  # 2 per core; each stores up to RECEIVER_MAX_INFLIGHT (4) webhooks at once
CHANNELS = {  # the paced rounds' delivery: fast retries, a 1 s send timeout
    "RECEIVER_POLL_INTERVAL": "100ms",
    "RECEIVER_SEND_TIMEOUT": "1s",
    "RECEIVER_RETRY_BASE": "200ms",
    **{"RECEIVER_SMS_ACCOUNT_SID": "AC1", "RECEIVER_SMS_AUTH_TOKEN": "t"},
    **{"RECEIVER_SMS_FROM": "+1", "RECEIVER_SMS_TO": "+2"},
}


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


def serving_workers(master: int, metrics: Path) -> int:
    """gunicorn workers of ``master`` that have built their app: each writes its metrics files
    (``*_<pid>.db``) as it does. The delivery process writes some too; it is no worker."""
    pids = {int(f.stem.rpartition("_")[2]) for f in metrics.glob("*_*.db") if f.stem.rpartition("_")[2].isdigit()}
    serving = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # gone
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        serving += parent == master and b"gunicorn" in command
    return serving


@contextmanager
def receiver(uri: str, **env: str) -> Iterator[int]:
    """A receiver under gunicorn, once every one of its workers serves: the first worker up would
    otherwise take every connection the clients open (they keep them), and the run would measure one
    worker of ``WORKERS``."""
    port = free_port()
    metrics = Path(tempfile.mkdtemp(prefix="bench-receiver-metrics-"))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_MULTIPROC"))}
    environment.update(
        {
            "POSTGRES_URI": uri,
            "RECEIVER_PORT": str(port),
            "RECEIVER_WORKERS": WORKERS,
            "LOG_LEVEL": "warning",
            "RECEIVER_WEBHOOK_TOKEN": TOKEN,
            "RECEIVER_EGRESS_ALLOW": "127.0.0.1",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            **env,
        }
    )
    workers = int(environment["RECEIVER_WORKERS"])  # WORKERS unless the caller chose another count
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
                        if r.status == 200 and serving_workers(proc.pid, metrics) == workers:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.1)
            yield port
        finally:
            proc.terminate()
            proc.wait(30)
            shutil.rmtree(metrics, ignore_errors=True)


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


class Client:
    """One sender's persistent HTTP/1.1 connection to the receiver, as Alertmanager keeps one.

    Written on a bare socket: http.client's request building and response parsing took 0.34-0.43
    ms of CPU per webhook, on the same two cores as the receiver and PostgreSQL (a tenth of what
    they spend). Alertmanager sends from its own host; the load generator here should take as
    little of the receiver's CPU as it can."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head = (
            "POST /api/v1/alerts/alertmanager HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: "
        ).encode()
        self._unread = b""

    def post(self, body: bytes) -> float:
        """One webhook; its latency in seconds. Raises on anything but 200."""
        started = time.perf_counter()
        self._sock.sendall(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
        status = self._response()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        return time.perf_counter() - started

    def _response(self) -> int:
        """Read one response (status line, headers, a Content-Length body); its status."""
        buffer = self._unread
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv()
        lines = buffer[:end].split(b"\r\n")
        fields = (line.partition(b":") for line in lines[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        if b"content-length" not in headers:  # the receiver sets it on every answer; anything else is a change
            raise RuntimeError(f"response without Content-Length: {lines[0]!r}")
        if headers.get(b"connection", b"").lower() == b"close":
            raise RuntimeError(f"the receiver closed the connection: {lines[0]!r}")
        length = int(headers[b"content-length"])
        rest = buffer[end + 4 :]
        while len(rest) < length:
            rest += self._recv()
        self._unread = rest[length:]
        return int(lines[0].split()[1])

    def _recv(self) -> bytes:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise RuntimeError("the receiver closed the connection")
        return chunk

    def close(self) -> None:
        self._sock.close()


PREBUILT = 1_000  # bodies per client built before the clock starts (more are built as needed)


def throughput(port: int, tag: str) -> tuple[float, list[float]]:
    """Alerts/s over ``THROUGHPUT_SECONDS`` of ``CLIENTS`` senders, and every webhook's latency.

    The bodies are encoded before the clock starts: Alertmanager encodes its own on its own host,
    and here that work would take the receiver's CPU (a tenth of a core at this rate)."""
    latencies: list[float] = []
    lock = threading.Lock()
    bodies = [[payload(f"{tag}{n}x", seq) for seq in range(PREBUILT)] for n in range(CLIENTS)]
    stop_at = time.monotonic() + THROUGHPUT_SECONDS

    def client(n: int) -> None:
        sender, seq, mine = Client(port), 0, list[float]()
        try:
            while time.monotonic() < stop_at:
                body = bodies[n][seq] if seq < PREBUILT else payload(f"{tag}{n}x", seq)
                mine.append(sender.post(body))
                seq += 1
        finally:
            sender.close()
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
    sender = Client(port)
    try:
        for seq in range(20):  # warm up every worker's connection pool first
            sender.post(payload(f"{tag}w", seq, priority="critical"))
        latencies = []
        interval = 1.0 / PACED_RATE
        start = time.monotonic()
        for seq in range(int(PACED_SECONDS * PACED_RATE)):
            delay = start + seq * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            latencies.append(sender.post(payload(tag, seq, priority="critical")))
        return latencies
    finally:
        sender.close()


def copy_baseline(uri: str, alerts: int, tag: str) -> float:
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


def intake(uri: str, samples: Samples) -> None:
    """One round of intake throughput, with its p50 and p99 at full load."""
    tag = f"i{samples.count('intake')}x"
    dead = f"http://127.0.0.1:{free_port()}"  # channels "configured" to a closed port: intake writes their jobs
    with receiver(uri, RECEIVER_DELIVERY="off", RECEIVER_SLACK_WEBHOOK_URL=dead, RECEIVER_SMTP_HOST="127.0.0.1",
                  RECEIVER_EMAIL_FROM="a@example.com", RECEIVER_EMAIL_TO="b@example.com") as port:  # fmt: skip
        warm = Client(port)
        warm.post(payload(f"{tag}warm", 0))
        warm.close()
        rate, loaded = throughput(port, tag)
    samples.add("intake", rate)
    samples.add("p50 loaded", p(loaded, 50))
    samples.add("p99 loaded", p(loaded, 99))


def copy(uri: str, samples: Samples) -> None:
    """One round of the baseline: COPY as many alerts as the last intake round stored (a guess before it)."""
    rate = samples["intake"].values[-1] if samples.count("intake") else 3_000.0
    samples.add("copy", copy_baseline(uri, int(rate * THROUGHPUT_SECONDS), f"c{samples.count('copy')}x"))


@contextmanager
def sink_process(status: int = 200, delay: float = 0.0) -> Iterator[str]:
    """A recording HTTP endpoint (``python -m tests.sinks``) in a process of its own: its URL."""
    argv = [sys.executable, "-m", "tests.sinks", "--status", str(status), "--delay", str(delay)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the sink process did not start (exit {process.poll()})")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def paced_p99(samples: Samples, kind: str, slack: str, sms: str) -> None:
    """One round of the p99 at a paced 50 webhooks/s, the delivery process sending to ``slack`` and ``sms``.

    Each round has a database of its own: in the intake rounds' database the delivery process would
    find their jobs (tens of thousands, queued with delivery off) and spend the round sending them,
    and a round would find the retries the last one left."""
    tag = f"{kind[0]}{samples.count(kind)}x"
    with fresh_database() as uri:
        migrate(uri)
        with receiver(uri, RECEIVER_SLACK_WEBHOOK_URL=slack, RECEIVER_SMS_API_URL=sms, **CHANNELS) as port:
            samples.add(kind, p(paced(port, tag), 99))


def migrate(uri: str) -> None:
    database = PostgresDatabase(uri)
    try:
        SqlAlertHistory(database).migrate()
    finally:
        database.close()


def round_trips(uri: str) -> dict[str, float]:
    """Round trips to PostgreSQL recording a webhook of 10 new alerts, and the same webhook again."""
    database = TracedDatabase(uri)
    try:
        history = SqlAlertHistory(database, SqlEventOutbox(database))
        history.migrate()
        configured = frozenset({"slack", "email"})
        observations = observe(decode_payload(payload("rt", 0)), RoutingPolicy(), configured, time.time(), 3600.0)
        counts: dict[str, float] = {}
        for name in ("new", "repeat"):
            with database.counting() as counted:
                history.record(observations, time.time())
            counts[name] = float(counted[0])
        return counts
    finally:
        database.close()


def run() -> list[Result]:
    samples = Samples()
    with fresh_database() as uri:
        migrate(uri)
        with sink_process() as healthy, sink_process(status=503) as broken, sink_process(delay=3.0) as stalled:
            interleave(
                [
                    lambda: intake(uri, samples),
                    lambda: copy(uri, samples),
                    lambda: paced_p99(samples, "healthy", healthy, healthy),
                    lambda: paced_p99(samples, "failing", stalled, broken),
                ]
            )
        trips = round_trips(uri)
    return [
        Result("receiver webhook intake, 10-alert groups + outbox (gunicorn, PG)", samples["intake"], "alerts/s",
               "psycopg COPY of the same rows", samples["copy"], ">= 6,000 alerts/s and >= 0.12x"),
        Result("receiver webhook p50 at full load", samples["p50 loaded"], "µs", "p99 at full load",
               samples["p99 loaded"]),
        Result("receiver webhook p99 at 50 webhooks/s, healthy channels", samples["healthy"], "µs", "goal 25 ms",
               Figures.constant(25_000), "ratio <= 1"),
        Result("receiver webhook p99 at 50 webhooks/s, channels failing/stalling", samples["failing"], "µs",
               "p99 with healthy channels", samples["healthy"], "<= 1x"),
        Result("receiver PostgreSQL round trips per webhook of 10 new alerts", Figures.once(trips["new"]),
               "round trips", "the same webhook repeated (10 known alerts)", Figures.once(trips["repeat"]),
               "as few as it can"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.report import render

    print(render(run()))
    print(f"({Path(__file__).name}: {THROUGHPUT_SECONDS}s load, {PACED_SECONDS}s paced per phase, per round)")
