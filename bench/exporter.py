"""The exporter on the real local broker: the whole process, its event path, scrape cost, RSS.

Every round (bench/rounds.py) consumes the same 1,000,000 records of one 3-partition topic,
each time in a fresh consumer group:

- a bare confluent-kafka ``consume(1000)`` loop, the ceiling of consuming;
- the event path alone (consume, decode, validate, dedup, update metrics, store offsets,
  commit) in this process, with the shipped consumer settings and garbage-collector tuning;
- the same event path while a scraper fetches ``/metrics`` every second;
- the whole ``monitoring exporter`` process with every feature on (bench/exporter_process.py):
  its rate from its own ``/metrics`` (until both its event consumer and its consistency consumer,
  a worker process of its own, have seen every record), and the CPU time and memory of the
  process tree (the exporter and its worker) when ready and after the last record.

Plus ``/metrics`` rendering at 10,000 series against ``generate_latest`` on the same registry.
"""

from __future__ import annotations

import gc
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from wsgiref.util import setup_testing_defaults

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, generate_latest

from bench.exporter_process import exporter_process
from bench.kafka_fill import delete_topics, fill
from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import Samples, interleave
from exporter.consumer_settings import CONSUMER_PREFETCH
from exporter.dead_letters import KafkaDeadLetters
from exporter.dedup import SeenIds
from exporter.garbage_collection import tune_for_batches
from exporter.http import HttpServer, create_app
from exporter.kafka_status import KafkaStatus
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.sources import KafkaSource
from exporter.span_budget import SpanBudget
from tests.services import kafka_brokers

EVENTS = 1_000_000
BATCH = 1000  # COLLECTION_BATCH_SIZE's default
MiB = 2**20


@contextmanager
def _tuned_gc() -> Iterator[None]:
    """The exporter's garbage-collector settings for the block, as ``monitoring exporter`` runs with them."""
    threshold = gc.get_threshold()
    tune_for_batches(BATCH)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _bare_loop(brokers: str, topic: str, count: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bench-bare-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            **CONSUMER_PREFETCH,
        }
    )
    consumer.subscribe([topic])
    got, started = 0, 0.0
    try:
        while got < count:
            messages = consumer.consume(BATCH, 1.0)
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
) -> tuple[float, float, float]:
    """Events/s through the exporter path, the mean scrape time (0 without a scraper), and this
    process's CPU seconds per event (librdkafka's threads included)."""
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
        extra_config=CONSUMER_PREFETCH,
    )
    stop = threading.Event()
    scrapes: list[float] = []
    server = HttpServer(create_app(registry, ready=lambda: True), "127.0.0.1", 0)
    scraper = threading.Thread(target=_scrape, args=(server, scrape_every or 1.0, stop, scrapes), daemon=True)
    if scrape_every:
        server.start()
    got, started, cpu_started = 0, 0.0, 0.0
    process = processor.process
    try:
        with _tuned_gc():
            while got < count:
                records = source.poll(BATCH, 1.0)
                if records and not started:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    if scrape_every:
                        scraper.start()
                for record in records:
                    process(record)
                source.done(records)
                source.maybe_commit()
                got += len(records)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        stop.set()
        source.close()
        dead_letters.close()
        if scrape_every:
            scraper.join(5)
            server.stop()
    return got / elapsed, (sum(scrapes) / len(scrapes) if scrapes else 0.0), cpu / got


def _scrape(server: HttpServer, every: float, stop: threading.Event, durations: list[float]) -> None:
    while not stop.wait(every):
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as response:
            response.read()
        durations.append(time.perf_counter() - started)


def _renders_per_second(render: Callable[[], object], renders: int = 3) -> float:
    started = time.perf_counter()
    for _ in range(renders):
        render()
    return renders / (time.perf_counter() - started)


def _render_figures(series: int) -> Samples:
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

    samples = Samples()
    interleave(
        [
            lambda: samples.add("app", _renders_per_second(render_app)),
            lambda: samples.add("latest", _renders_per_second(lambda: generate_latest(registry))),
        ]
    )
    return samples


def run() -> list[Result]:
    brokers = kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    topic = f"bench.exporter.{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    samples = Samples()
    scrape_seconds: list[float] = []

    def scraped() -> None:
        rate, seconds, _ = _exporter_loop(brokers, topic, EVENTS, 1.0)
        samples.add("scraped", rate)
        scrape_seconds.append(seconds)

    def path() -> None:
        rate, _, cpu = _exporter_loop(brokers, topic, EVENTS, None)
        samples.add("path", rate)
        samples.add("path cpu", cpu * 1e6)

    def whole_process(uri: str, allocator: str = "tuned") -> None:
        with exporter_process(brokers, topic, uri, {"EXPORTER_ALLOCATOR": allocator}) as process:
            run = process.run_until(EVENTS)
        suffix = "" if allocator == "tuned" else f" {allocator}"
        samples.add("process" + suffix, run.rate)
        samples.add("process cpu" + suffix, run.cpu_seconds / EVENTS * 1e6)
        samples.add("rss ready" + suffix, run.rss_ready / MiB)
        samples.add("rss after" + suffix, run.rss_after / MiB)
        samples.add("pss after" + suffix, run.pss_after / MiB)
        samples.add("rss exporter" + suffix, run.rss_exporter / MiB)

    try:
        fill(brokers, topic, EVENTS)
        with fresh_database() as uri:
            interleave(
                [
                    lambda: samples.add("bare", _bare_loop(brokers, topic, EVENTS)),
                    scraped,
                    # the whole process next to its baseline in every round, whichever the order
                    path,
                    lambda: whole_process(uri),
                    lambda: whole_process(uri, "default"),  # glibc's allocator as it comes
                ]
            )
    finally:
        delete_topics(brokers, [topic, f"{topic}.dlq"])
    renders = _render_figures(10_000)
    mean_scrape_ms = sum(scrape_seconds) / len(scrape_seconds) * 1000
    return [
        Result(
            "exporter process, every feature on (monitoring exporter, rate from its /metrics)",
            samples["process"],
            "events/s",
            "the event path alone",
            samples["path"],
            ">= 50,000 events/s and >= 0.6x",
        ),
        Result(
            "exporter process tree CPU per event, every feature on (exporter + consistency worker)",
            samples["process cpu"],
            "µs",
            "the event path alone, its process",
            samples["path cpu"],
        ),
        Result(
            f"exporter process tree RSS after {EVENTS:,} events, summed (exporter + consistency worker)",
            samples["rss after"],
            "MiB",
            "the same tree when ready",
            samples["rss ready"],
            "<= 128 MiB",
        ),
        Result(
            f"exporter process tree PSS after {EVENTS:,} events (shared pages counted once)",
            samples["pss after"],
            "MiB",
            "its RSS summed",
            samples["rss after"],
            "<= 128 MiB",
        ),
        Result(
            f"exporter process alone RSS after {EVENTS:,} events, allocator tuned (exporter/allocator.py)",
            samples["rss exporter"],
            "MiB",
            "EXPORTER_ALLOCATOR=default (glibc's defaults)",
            samples["rss exporter default"],
        ),
        Result(
            f"exporter process tree PSS after {EVENTS:,} events, allocator tuned",
            samples["pss after"],
            "MiB",
            "EXPORTER_ALLOCATOR=default",
            samples["pss after default"],
        ),
        Result(
            "exporter process tree CPU per event, allocator tuned",
            samples["process cpu"],
            "µs",
            "EXPORTER_ALLOCATOR=default",
            samples["process cpu default"],
        ),
        Result(
            "exporter event path: consume+decode+validate+metrics+commit",
            samples["path"],
            "events/s",
            "bare consume(1000) loop, same consumer settings",
            samples["bare"],
            ">= 0.2x and >= 50,000 events/s",
        ),
        Result(
            "exporter event path with a 1s /metrics scraper",
            samples["scraped"],
            "events/s",
            "the event path without scraper",
            samples["path"],
            f">= 0.9x (mean scrape {mean_scrape_ms:.1f} ms)",
        ),
        Result(
            "/metrics render, 10,000 series (inverse time)",
            renders["app"],
            "renders/s",
            "generate_latest, same registry",
            renders["latest"],
            "time <= 1.1x, i.e. ratio >= 0.91",
        ),
    ]
