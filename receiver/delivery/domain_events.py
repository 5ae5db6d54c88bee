"""The receiver's domain events on their way out: the relay that drains the outbox, its upkeep
and its metrics, owned by one object per process.

The alert history writes the events into ``domain_event_outbox`` in the alert's transaction
(``receiver/store/event_outbox.py``); here ``monitoring.event_relay.EventRelay`` publishes them to
Kafka's ``monitoring.events`` (KAFKA_BROKERS; else one log line each) and appends them to the
event store (MONGODB_URI; else the embedded SQLite stand-in). ``start()`` runs the relay's
two threads and an hourly prune of rows relayed longer ago than the events retention;
``stop()`` ends them and flushes the producer; ``close()`` releases the event store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from monitoring.cloudevents import CloudEvent
from monitoring.event_relay import EventRelay, LogPublisher, Publisher
from monitoring.event_spool import Stage
from monitoring.eventstore import EventStore
from monitoring.eventstore.sqlite import SqliteEventStore
from receiver.config.settings import ReceiverConfig
from receiver.store.database import DatabaseUnavailable
from receiver.store.event_outbox import SqlEventOutbox

log = structlog.get_logger("receiver.domain_events")
PRUNE_EVERY = 3600.0


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.relayed = Counter(
            "receiver_domain_events_relayed_total",
            "Domain events published to Kafka (stage=published) or appended to the event store (stage=stored)",
            ["stage"],
            registry=registry,
        )
        self.unbuildable = Counter(
            "receiver_domain_events_unbuildable_total",
            "Domain events by reference the relay could not build (their alert gone, or a type unknown here): "
            "parked an hour, then tried again, by stage",
            ["stage"],
            registry=registry,
        )
        self.failures = Counter(
            "receiver_domain_event_relay_failures_total",
            "Failed attempts to publish a domain event or to append to the event store, by stage",
            ["stage"],
            registry=registry,
        )


class CountingOutbox:
    """The outbox as the relay sees it: every ``mark`` counted as relayed, every row it could not build counted."""

    def __init__(self, outbox: SqlEventOutbox, metrics: RelayMetrics) -> None:
        self._outbox = outbox
        self._metrics = metrics

    def pending(self, stage: Stage, limit: int) -> list[CloudEvent]:
        return self._outbox.pending(stage, limit, parked=self._metrics.unbuildable.labels(stage.value).inc)

    def mark(self, stage: Stage, ids: Sequence[str]) -> None:
        self._outbox.mark(stage, ids)
        if ids:
            self._metrics.relayed.labels(stage.value).inc(len(ids))


class OutboxBacklogCollector:
    """Events not yet published / stored and the oldest one's age, read at every scrape."""

    def __init__(self, outbox: SqlEventOutbox) -> None:
        self._outbox = outbox

    def collect(self) -> Iterable[Metric]:
        try:
            backlog = self._outbox.backlog()
        except DatabaseUnavailable:  # receiver_database_up says so
            return
        pending = GaugeMetricFamily(
            "receiver_domain_events_pending",
            "Domain events in the outbox not yet published (stage=published) or stored (stage=stored)",
            labels=["stage"],
        )
        oldest = GaugeMetricFamily(
            "receiver_domain_events_oldest_pending_age_seconds",
            "Age of the oldest domain event not yet through the stage (0 when none)",
            labels=["stage"],
        )
        for stage, state in backlog.items():
            pending.add_metric([stage.value], state.pending)
            oldest.add_metric([stage.value], state.oldest_pending_age)
        yield pending
        yield oldest


class ReceiverDomainEvents:
    def __init__(
        self,
        outbox: SqlEventOutbox,
        store: EventStore,
        publisher: Callable[[], Publisher],
        registry: CollectorRegistry,
        retention_seconds: float,
        clock: Callable[[], float],
        *,
        close_store: Callable[[], None] = lambda: None,
        idle_wait: float = 0.2,
    ) -> None:
        self.outbox = outbox
        self.store = store
        self.metrics = RelayMetrics(registry)
        self._publisher = publisher
        self._retention = retention_seconds
        self._clock = clock
        self._close_store = close_store
        self._idle_wait = idle_wait
        self._relay: EventRelay | None = None
        self._stopping = threading.Event()
        self._pruner: threading.Thread | None = None

    def relay(self) -> EventRelay:
        """The relay, built on first use: the Kafka producer is created in the process that runs it."""
        if self._relay is None:
            self._relay = EventRelay(
                CountingOutbox(self.outbox, self.metrics),
                self._publisher(),
                self.store,
                idle_wait=self._idle_wait,
                on_error=lambda stage: self.metrics.failures.labels(stage.value).inc(),
            )
        return self._relay

    def prune(self) -> int:
        pruned = self.outbox.prune(self._clock() - self._retention)
        if pruned:
            log.info("domain event outbox pruned", events=pruned)
        return pruned

    def start(self) -> None:
        if self._pruner is not None:
            return
        self._stopping.clear()
        self.relay().start()
        self._pruner = threading.Thread(target=self._prune_loop, name="domain-event-prune", daemon=True)
        self._pruner.start()

    def _prune_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.prune()
            except DatabaseUnavailable as exc:
                log.warning("domain event outbox prune failed", reason=str(exc))
            except Exception:  # the loop's edge: log and try again next time
                log.exception("domain event outbox prune failed unexpectedly")
            self._stopping.wait(PRUNE_EVERY)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._relay is not None:
            self._relay.stop(timeout)
            self._relay = None
        if self._pruner is not None:
            self._pruner.join(timeout)
            self._pruner = None

    def close(self) -> None:
        self.stop()
        self.store.close()
        self._close_store()


def build_domain_events(
    config: ReceiverConfig, outbox: SqlEventOutbox, registry: CollectorRegistry, clock: Callable[[], float]
) -> ReceiverDomainEvents:
    """Kafka when KAFKA_BROKERS is set, else the log; MongoDB when MONGODB_URI is set, else SQLite.

    The Kafka and MongoDB clients are imported only when configured: every receiver process builds
    this (the web workers for the events API, the delivery process for the relay), and each module
    imported stays resident in all of them."""
    shared = config.shared
    brokers = ",".join(shared.kafka_brokers)

    def publisher() -> Publisher:
        if not brokers:
            return LogPublisher()
        from monitoring.event_publisher import EventPublisher  # confluent_kafka: only when configured

        return EventPublisher(brokers, extra_config=dict(shared.kafka_security.client_config()))

    if shared.mongodb_uri is None:
        store = SqliteEventStore(config.event_store_path, shared.retention.events_seconds)
        return ReceiverDomainEvents(
            outbox, store, publisher, registry, shared.retention.events_seconds, clock, idle_wait=config.poll_interval
        )
    import pymongo  # the MongoDB client: only when configured

    from monitoring.eventstore.mongo import MongoEventStore

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        shared.mongodb_uri.reveal(), serverSelectionTimeoutMS=5000, connect=False
    )
    mongo = MongoEventStore(client.get_default_database("monitoring"), shared.retention.events_seconds)
    return ReceiverDomainEvents(
        outbox,
        mongo,
        publisher,
        registry,
        shared.retention.events_seconds,
        clock,
        close_store=client.close,
        idle_wait=config.poll_interval,
    )
