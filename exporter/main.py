"""Entry point: wire the registry, sources, processors, monitors and HTTP server; run until SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import threading
import time
from functools import partial
from types import FrameType
from typing import Any, Protocol

import pymongo
import requests
import structlog
from confluent_kafka.admin import AdminClient
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from exporter import allocator
from exporter.collection_cycle import CollectionCycle
from exporter.config import ExporterConfig
from exporter.consistency import ConsistencyProcessor, load_rules
from exporter.consistency_process import ConsistencyProcess
from exporter.consistency_reports import ConsistencyReports
from exporter.consumer import ConsumeLoop
from exporter.consumer_groups import ConsumerGroupMonitor
from exporter.consumer_settings import consumer_config
from exporter.dead_letters import KafkaDeadLetters
from exporter.dedup import SeenIds
from exporter.domain_events import DomainEvents
from exporter.garbage_collection import tune_for_batches
from exporter.health_checks import HealthChecker, load_checks
from exporter.http import HttpServer, create_app
from exporter.kafka_status import KafkaStatus
from exporter.leadership import AdvisoryLock, Lock, NoLock, SingleActive
from exporter.metrics import BusinessMetrics, ConsistencyMetrics, EventMetrics, LeadershipMetrics
from exporter.processor import EventProcessor
from exporter.queries import Backend, MongoBackend, PostgresBackend, QueryRunner, load_queries
from exporter.records import ConsumedRecord
from exporter.snapshots import SnapshotStore
from exporter.sources import EventModel, InProcessSource, KafkaSource
from exporter.span_budget import SpanBudget
from exporter.web_config import WebConfig, protect_metrics
from monitoring.event_publisher import EventPublisher
from monitoring.event_relay import LogPublisher, Publisher
from monitoring.event_spool import EventSpool
from monitoring.eventstore import EventStore
from monitoring.eventstore.mongo import MongoEventStore
from monitoring.eventstore.sqlite import SqliteEventStore
from monitoring.settings import ConfigError
from monitoring.tracing import Tracing, configure_tracing

log = structlog.get_logger(__name__)
SERVICE_NAME = "monitoring-exporter"  # the tracing resource's service.name unless OTEL_SERVICE_NAME says otherwise


class Component(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 30.0) -> None: ...


class Exporter:
    """Everything one exporter process runs; ``start`` and ``stop`` in dependency order."""

    def __init__(
        self,
        registry: CollectorRegistry,
        loop: ConsumeLoop,
        kafka: KafkaStatus | None,
        components: list[Component],
        host: str,
        port: int,
        web: WebConfig | None = None,
    ) -> None:
        self.registry = registry
        self.loop = loop
        self.kafka = kafka
        self.components = components
        web = web or WebConfig()
        app = create_app(registry, ready=self.ready)
        if web.users:
            app = protect_metrics(app, web.users)
        self.server = HttpServer(app, host, port, web.server_context() if web.tls else None)

    def ready(self) -> bool:
        return self.loop.alive and (self.kafka is None or self.kafka.up)

    def start(self) -> None:
        self.loop.start()
        for component in self.components:
            component.start()
        self.server.start()

    def stop(self) -> None:
        """Finish the current batch and commit, then stop the monitors and the HTTP server."""
        self.loop.stop()
        for component in reversed(self.components):
            component.stop()
        self.server.stop()


def build(
    config: ExporterConfig,
    registry: CollectorRegistry | None = None,
    port: int | None = None,
    tracing: Tracing | None = None,
    *,
    model: EventModel | None = None,
) -> Exporter:
    """The exporter for ``config``: consuming Kafka when KAFKA_BROKERS is set, else the events of
    ``model`` (a model of the platform, such as the simulator's, that the caller passes in)."""
    registry = registry or CollectorRegistry()
    tracing = tracing or Tracing()
    tracer = tracing.tracer("exporter") if tracing.enabled else None
    shared = config.shared
    events = EventMetrics(registry)
    business = BusinessMetrics(registry)
    rules = load_rules(config.consistency_rules)  # a bad file stops the exporter at start, whichever process reads it
    buffer = shared.collection.buffer_size
    components: list[Component] = []
    kafka: KafkaStatus | None = None
    if shared.kafka_brokers:
        brokers = ",".join(shared.kafka_brokers)
        kafka = KafkaStatus()
        tls = shared.kafka_security.client_config()  # TLS settings for every Kafka client below
        registry.register(kafka)
        dead_letters = KafkaDeadLetters({"bootstrap.servers": brokers, "error_cb": kafka.on_error, **tls}, events)
        processor = EventProcessor(
            events,
            time.perf_counter,
            business=business,
            seen=SeenIds(buffer),
            dead_letters=dead_letters,
            wall_clock=time.time,
            label_limit=config.label_limit,
            tracer=tracer,
            span_budget=SpanBudget(config.trace_rate),
        )
        source = KafkaSource(
            shared.kafka_brokers,
            config.group_id,
            config.topics,
            metrics=events,
            status=kafka,
            commit_interval=config.commit_interval_seconds,
            before_commit=dead_letters.flush,
            extra_config=consumer_config(config),
        )
        loop = ConsumeLoop(
            source, processor.process, shared.collection.batch_size, on_error=events.loop_errors.labels("consume").inc
        )
        leadership = LeadershipMetrics(registry)
        if config.consistency:  # in a process of its own while this instance holds the lock
            reports = ConsistencyReports(events)  # its metrics, served here
            registry.register(reports)
            crashes = events.loop_errors.labels("consistency").inc
            lock: Lock = (
                AdvisoryLock(shared.postgres_uri.reveal(), f"{config.group_id}.consistency")
                if shared.postgres_uri
                else NoLock()
            )
            components.append(
                SingleActive(
                    lock,
                    lambda: ConsistencyProcess(config, reports, crashes),
                    leadership.active,
                    on_error=events.loop_errors.labels("leadership").inc,
                )
            )
        else:
            ConsistencyMetrics(registry)  # the families, with nothing active
        admin_config: dict[str, Any] = {"bootstrap.servers": brokers, "error_cb": kafka.on_error, **tls}
        monitor = ConsumerGroupMonitor(
            AdminClient(admin_config),
            kafka,
            groups=config.lag_groups,
            window=config.lag_window,
            interval=config.lag_interval_seconds,
            on_error=events.loop_errors.labels("consumer_groups").inc,
            reconnect=lambda: AdminClient(admin_config),
        )
        registry.register(monitor)
        components.append(monitor)
    else:
        if model is None:
            raise ConfigError("KAFKA_BROKERS is not set, and no in-process model of the platform was given to read")
        processor = EventProcessor(
            events,
            time.perf_counter,
            business=business,
            seen=SeenIds(buffer),
            wall_clock=time.time,
            label_limit=config.label_limit,
            tracer=tracer,
            span_budget=SpanBudget(config.trace_rate),
        )
        checker = ConsistencyProcessor(ConsistencyMetrics(registry), rules, buffer, label_limit=config.label_limit)
        LeadershipMetrics(registry).active.set(1)

        def handle(record: ConsumedRecord) -> None:
            processor.process(record)
            checker.process(record)

        loop = ConsumeLoop(
            InProcessSource(model, rate=config.inprocess_rate),
            handle,
            shared.collection.batch_size,
            tick=checker.expire,
            on_error=events.loop_errors.labels("consume").inc,
        )
    domain = _domain_events(config, registry)
    components.extend(_business_data(config, registry, events, domain, tracing))
    port = shared.exporter_port if port is None else port
    return Exporter(registry, loop, kafka, components, config.host, port, config.web)


def _domain_events(config: ExporterConfig, registry: CollectorRegistry) -> DomainEvents | None:
    """The spool and relay of ServiceHealthChanged and MetricCollected, unless switched off."""
    if not config.domain_events:
        return None
    shared = config.shared
    publisher: Publisher = (
        EventPublisher(",".join(shared.kafka_brokers), extra_config=dict(shared.kafka_security.client_config()))
        if shared.kafka_brokers
        else LogPublisher()
    )
    store: EventStore
    if shared.mongodb_uri:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            shared.mongodb_uri.reveal(), serverSelectionTimeoutMS=5000
        )
        store = MongoEventStore(client.get_default_database("monitoring"), shared.retention.events_seconds)
    else:
        store = SqliteEventStore(config.event_store_path, shared.retention.events_seconds)
    spool = EventSpool(config.spool_file, config.spool_capacity)
    return DomainEvents(spool, publisher, store, registry)


def _business_data(
    config: ExporterConfig,
    registry: CollectorRegistry,
    events: EventMetrics,
    domain: DomainEvents | None,
    tracing: Tracing,
) -> list[Component]:
    """Domain events, the collection cycle, business queries and health checks.

    The domain-event relay comes first so that it starts before, and stops after, what emits.
    """
    shared = config.shared
    components: list[Component] = []
    if domain is not None:
        components.append(domain)
        snapshots = (
            SnapshotStore(
                shared.postgres_uri.reveal(), shared.retention.metrics_seconds, shared.retention.alerts_seconds
            )
            if shared.postgres_uri and config.snapshots
            else None
        )
        components.append(
            CollectionCycle(
                registry,
                shared.collection.interval_seconds,
                emit=partial(domain.metric_collected, config.instance_name),
                snapshots=snapshots,
                on_error=events.loop_errors.labels("collection").inc,
                tracer=tracing.tracer("exporter.collection"),
            )
        )
    if config.queries is not None:
        loaded = load_queries(config.queries)
        backends: dict[str, Backend] = {}
        if shared.postgres_uri:
            backends["postgres"] = PostgresBackend(shared.postgres_uri.reveal())
        if shared.mongodb_uri:
            backends["mongodb"] = MongoBackend(shared.mongodb_uri.reveal(), loaded.mongodb_database)
        for query in loaded.queries:
            if query.database not in backends:
                variable = "POSTGRES_URI" if query.database == "postgres" else "MONGODB_URI"
                raise ConfigError(f"{config.queries}: query {query.name!r} needs {variable}, which is unset")
        runner = QueryRunner(loaded.queries, backends, on_error=events.loop_errors.labels("queries").inc)
        registry.register(runner)
        components.append(runner)
    if config.health_checks is not None:
        checker = HealthChecker(
            load_checks(config.health_checks),
            requests.Session(),
            on_error=events.loop_errors.labels("health").inc,
            on_transition=domain.health_changed if domain is not None else lambda record: None,
            tracer=tracing.tracer("exporter.health"),
        )
        registry.register(checker)
        components.append(checker)
    return components


def run(config: ExporterConfig, model: EventModel | None = None) -> int:
    """Run until SIGTERM or SIGINT; ``model`` feeds the exporter when KAFKA_BROKERS is unset."""
    allocator.tune(config.allocator)  # before any Kafka client starts its threads
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    tracing = configure_tracing(os.environ, SERVICE_NAME)
    exporter = build(config, registry, tracing=tracing, model=model)
    tune_for_batches(config.shared.collection.batch_size)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("exporter_stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exporter.start()
    log.info(
        "exporter_started",
        url=f"{'https' if config.web.tls else 'http'}://{config.host}:{exporter.server.port}/metrics",
        source="kafka" if config.shared.kafka_brokers else "in-process",
    )
    stopping.wait()
    exporter.stop()
    tracing.shutdown()  # flush the last spans
    log.info("exporter_stopped")
    return 0
