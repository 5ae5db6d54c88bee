"""The exporter's domain events (ServiceHealthChanged, MetricCollected) on their way out.

Events get stable ids derived from what they describe, so a repeated emission (a restart
re-running a cycle) is the same event, never a second one. They go into a bounded local
spool first; a relay drains it to Kafka's ``monitoring.events`` and to the event store, each
when it is reachable. Without KAFKA_BROKERS the "publisher" is the log, without MONGODB_URI
the event store is the embedded SQLite stand-in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitoring.catalogue import PUBLISHER, MetricCollected, Payload, ServiceHealthChanged
from monitoring.cloudevents import CloudEvent, new_event
from monitoring.event_relay import EventRelay, Publisher
from monitoring.event_spool import EventSpool, Stage
from monitoring.eventstore import EventStore
from monitoring.tracing import current_traceparent

# Namespace of the ids of the monitoring stack's own events (uuid5 of a natural key).
EVENT_ID_NAMESPACE = uuid.UUID("6b1f3f4e-3d9a-4e0b-9a0e-5c2d7a4f1b10")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "|".join(parts)))


class DomainEvents(Collector):
    """Emits events into the spool and owns the relay that drains it."""

    def __init__(self, spool: EventSpool, publisher: Publisher, store: EventStore, registry: CollectorRegistry) -> None:
        self._spool = spool
        self._emitted = Counter(
            "monitoring_domain_events_emitted",
            "Domain events the exporter emitted into its spool, by type.",
            ["type"],
            registry=registry,
        )
        self._dropped = Counter(
            "monitoring_domain_events_dropped",
            "Domain events dropped because the spool was full (oldest first).",
            registry=registry,
        )
        self.relay_failures = Counter(
            "monitoring_domain_event_relay_failures",
            "Failed attempts to publish to Kafka or to append to the event store, by stage.",
            ["stage"],
            registry=registry,
        )
        self._relay = EventRelay(spool, publisher, store, on_error=self._relay_failed)
        registry.register(self)

    def _relay_failed(self, stage: Stage) -> None:
        self.relay_failures.labels(stage.value).inc()

    def health_changed(self, record: ServiceHealthChanged) -> None:
        key = stable_id("ServiceHealthChanged", record.service, record.checked_at.isoformat(), record.current)
        self._emit(key, "ServiceHealthChanged", record.service, record.checked_at, record)

    def metric_collected(self, instance: str, record: MetricCollected) -> None:
        aggregate = f"{instance}/{record.collector}"
        key = stable_id("MetricCollected", aggregate, record.started_at.isoformat())
        self._emit(key, "MetricCollected", aggregate, record.started_at, record)

    def _emit(self, event_id: str, type_: str, aggregate: str, at: datetime, data: Payload) -> None:
        event = new_event(
            id=event_id,
            type=type_,
            source=PUBLISHER[type_],
            time=at,
            data=data,
            aggregateid=aggregate,
            traceparent=current_traceparent(),  # the span that emits it: consumers continue its trace
        )
        self.add([event])

    def add(self, events: list[CloudEvent]) -> None:
        dropped = self._spool.add(events)
        for event in events:
            self._emitted.labels(event.type).inc()
        if dropped:
            self._dropped.inc(dropped)

    def collect(self) -> Iterable[Metric]:
        pending = GaugeMetricFamily(
            "monitoring_domain_events_pending",
            "Domain events in the spool not yet published (stage=published) or stored (stage=stored).",
            labels=["stage"],
        )
        for stage, depth in self._spool.depth().items():
            pending.add_metric([stage.value], depth)
        yield pending

    def start(self) -> None:
        self._relay.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._relay.stop(timeout)
