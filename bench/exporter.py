"""The exporter on the real local broker: throughput against a bare consume loop, scrape cost, RSS.

- events/s through the exporter's own path (consume, decode, validate, dedup, update
  metrics, store offsets, commit) against a bare confluent-kafka ``consume(1000)`` loop,
  on the same broker and the same topic;
- the same exporter path while a scraper fetches ``/metrics`` every second;
- ``/metrics`` rendering at 10,000 series against ``generate_latest`` on the same registry;
- the resident set size of a real ``monitoring exporter`` process, ready and after consuming the topic.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from wsgiref.util import setup_testing_defaults

import msgspec
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench.report import Result
from exporter.dead_letters import KafkaDeadLetters
from exporter.dedup import SeenIds
from exporter.http import HttpServer, create_app
from exporter.kafka_status import KafkaStatus
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.sources import KafkaSource
from exporter.span_budget import SpanBudget
from monitoring.cloudevents import encode_binary, encode_structured
from simulator.platform import PlatformModel
from tests.services import free_port, kafka_brokers

EVENTS = 300_000


def _records(count: int) -> list[tuple[bytes, list[tuple[str, str | bytes | None]], bytes]]:
    """``count`` distinct platform events (unique ids), alternating structured and binary mode."""
    base = list(PlatformModel(seed=99).events(4000, datetime.now(UTC)))
    out: list[tuple[bytes, list[tuple[str, str | bytes | None]], bytes]] = []
    for i in range(count):
        event = base[i % len(base)]
        if i >= len(base):
            event = msgspec.structs.replace(event, id=f"{event.id}-{i // len(base)}")
        value, headers = (encode_structured if i % 2 else encode_binary)(event)
        out.append((value, list(headers), (event.aggregateid or "").encode()))
    return out


def _fill(brokers: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "batch.size": 1_000_000})
    for value, headers, key in _records(count):
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def _bare_loop(brokers: str, topic: str, count: int) -> float:
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": f"bench-bare-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    got, started = 0, 0.0
    try:
        while got < count:
            messages = consumer.consume(1000, 1.0)
            if messages and not started:
                started = time.perf_counter()
            got += len(messages)
    finally:
        consumer.close()
    return got / (time.perf_counter() - started)


def _exporter_loop(
    brokers: str,
    topic: str,
    count: int,
    scrape_every: float | None,
    tracer: Tracer | None = None,
    span_budget: SpanBudget | None = None,
) -> tuple[float, float]:
    """Events/s through the exporter path, and the mean scrape time (0 without a scraper)."""
    registry = CollectorRegistry()
    events = EventMetrics(registry)
    status = KafkaStatus()
    registry.register(status)
    dead_letters = KafkaDeadLetters({"bootstrap.servers": brokers}, events)
    processor = EventProcessor(
        events,
        time.perf_counter,
        business=BusinessMetrics(registry),
        seen=SeenIds(10_000),
        dead_letters=dead_letters,
        wall_clock=time.time,
        tracer=tracer,
        span_budget=span_budget,
    )
    source = KafkaSource(
        (brokers,),
        f"bench-exporter-{uuid.uuid4().hex}",
        (topic,),
        metrics=events,
        status=status,
        commit_interval=5.0,
        before_commit=dead_letters.flush,
    )
    stop = threading.Event()
    scrapes: list[float] = []
    server = HttpServer(create_app(registry, ready=lambda: True), "127.0.0.1", 0)
    scraper = threading.Thread(target=_scrape, args=(server, scrape_every or 1.0, stop, scrapes), daemon=True)
    if scrape_every:
        server.start()
    got, started = 0, 0.0
    process = processor.process
    try:
        while got < count:
            records = source.poll(1000, 1.0)
            if records and not started:
                started = time.perf_counter()
                if scrape_every:
                    scraper.start()
            for record in records:
                process(record)
            source.done(records)
            source.maybe_commit()
            got += len(records)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        source.close()
        dead_letters.close()
        if scrape_every:
            scraper.join(5)
            server.stop()
    return got / elapsed, (sum(scrapes) / len(scrapes) if scrapes else 0.0)


def _scrape(server: HttpServer, every: float, stop: threading.Event, durations: list[float]) -> None:
    while not stop.wait(every):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            response.read()
        durations.append(time.perf_counter() - started)


def _best_rate(work: Callable[[], object], rounds: int = 5) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = max(best, 1.0 / (time.perf_counter() - started))
    return best


def _render(series: int) -> tuple[float, float]:
    """Renders/s of /metrics (the exporter's WSGI app) and of generate_latest, on one registry."""
    registry = CollectorRegistry()
    counter = Counter("bench_series", "A counter with many series.", ["a", "b"], registry=registry)
    side = int(series**0.5)
    for a in range(side):
        for b in range(series // side):
            counter.labels(str(a), str(b)).inc(a + b)
    app = create_app(registry, ready=lambda: True)

    def render_app() -> bytes:
        environ: dict[str, object] = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}
        setup_testing_defaults(environ)
        body: Iterable[bytes] = app(environ, lambda status, headers, exc_info=None: lambda data: None)
        return b"".join(body)

    return _best_rate(render_app), _best_rate(lambda: generate_latest(registry))


def _rss_bytes(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    return float("nan")


def _exporter_process_rss(brokers: str, topic: str) -> tuple[float, float]:
    """RSS of a real ``monitoring exporter`` process when ready, and after it consumed the topic."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("POSTGRES_URI", "MONGODB_URI")},
        "KAFKA_BROKERS": brokers,
        "EXPORTER_TOPICS": topic,
        "EXPORTER_GROUP_ID": f"bench-process-{uuid.uuid4().hex}",
        "EXPORTER_PORT": str(port),
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen([sys.executable, "-m", "ops.cli", "exporter"], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        idle = 0.0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                consumed = _consumed(url)
            except OSError:
                time.sleep(0.1)
                continue
            idle = idle or _rss_bytes(process.pid)
            if consumed >= EVENTS:
                break
            time.sleep(0.5)
        return idle, _rss_bytes(process.pid)
    finally:
        process.terminate()
        process.wait(30)


def _consumed(url: str) -> float:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name == "monitoring_events_consumed"
        for s in family.samples
    )


def run() -> list[Result]:
    brokers = kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    topic = f"bench.exporter.{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    try:
        _fill(brokers, topic, EVENTS)
        # Interleave the three loops twice and keep the best of each: the machine is shared and noisy.
        bares, plain, scraping = [], [], []
        for _ in range(2):
            bares.append(_bare_loop(brokers, topic, EVENTS))
            plain.append(_exporter_loop(brokers, topic, EVENTS, None)[0])
            scraping.append(_exporter_loop(brokers, topic, EVENTS, 1.0))
        bare, exporter = max(bares), max(plain)
        scraped = max(rate for rate, _ in scraping)
        scrape_seconds = sum(seconds for _, seconds in scraping) / len(scraping)
        rss_idle, rss = _exporter_process_rss(brokers, topic)
    finally:
        admin.delete_topics([topic, f"{topic}.dlq"])
    app_rate, latest_rate = _render(10_000)
    return [
        Result(
            "exporter: consume+decode+validate+metrics+commit",
            exporter,
            "events/s",
            "bare consume(1000) loop",
            bare,
            ">= 0.2x and >= 50,000 events/s",
        ),
        Result(
            "exporter with a 1s /metrics scraper",
            scraped,
            "events/s",
            "exporter without scraper",
            exporter,
            f">= 0.9x (mean scrape {scrape_seconds * 1000:.1f} ms)",
        ),
        Result(
            "/metrics render, 10,000 series (inverse time)",
            app_rate,
            "renders/s",
            "generate_latest, same registry",
            latest_rate,
            "time <= 1.1x, i.e. ratio >= 0.91",
        ),
        Result(
            f"exporter process RSS after consuming {EVENTS:,} events",
            rss / 2**20,
            "MiB",
            "the same process when ready",
            rss_idle / 2**20,
        ),
    ]
