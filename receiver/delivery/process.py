"""The delivery process: the receiver's background work, out of the request workers.

Sending a page, relaying domain events and purging old history all hold the GIL for a while; in a
gunicorn worker they share it with the webhooks that worker serves. Here they have a process of
their own, so intake answers at its own pace whatever the channels do:

- ``RECEIVER_DELIVERY_THREADS`` outbox senders (``DeliveryWorker``: claim due jobs, send, retry or
  dead-letter, escalate, check the dead man's switch), each with its own channel clients. Claims
  are leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so senders, processes and instances never
  send one job twice;
- the domain-event relay (Kafka and the event store) and its prune;
- alert-history retention.

``monitoring receiver`` starts it beside gunicorn's workers: the master owns it
(``receiver/web/delivery_owner.py``). SIGTERM or SIGINT stop it (each sender finishes the send in
flight; unsent jobs stay in the outbox); SIGHUP re-reads the routing policy; it exits by itself
when its parent is gone. ``build_background`` is also what the application factory uses to drive
the same work in-process (tests, tools).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType

import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from monitoring.logs import configure_logging
from monitoring.settings import ConfigError
from monitoring.tracing import configure_tracing
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channel_set import build_channels
from receiver.delivery.composer import build_composer
from receiver.delivery.deadmans_switch import DeadMansSwitch
from receiver.delivery.domain_events import ReceiverDomainEvents, build_domain_events
from receiver.delivery.metrics import DeliveryMetrics
from receiver.delivery.notification import Channel
from receiver.delivery.outbox import Backoff, DeliveryWorker, IncidentEscalations
from receiver.store.audit import SqlAuditLog
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase, open_database
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import AlertHistory
from receiver.store.retention import RETAINED_WITH_ALERTS, AlertRetention, audit_purger, incident_purger
from receiver.store.sql_history import SqlAlertHistory

log = structlog.get_logger("receiver.delivery")
SERVICE_NAME = "monitoring-receiver"  # the tracing resource's name: delivery spans continue the webhook's trace
DELIVERY_BATCH = 5  # jobs per claim
# Besides the senders: the relay's two stages, its prune, and retention each hold a connection at times.
SUPPORT_CONNECTIONS = 4
PARENT_CHECK = 1.0  # seconds between checks that the process that started this one is still there


def claim_lease(send_timeout: float) -> float:
    """A claimed batch must be sent before its lease ends; a sender that dies frees its jobs then."""
    return DELIVERY_BATCH * send_timeout + 5.0


@dataclass
class Background:
    """The senders, the domain-event relay and retention: started and stopped together."""

    senders: list[DeliveryWorker]
    domain_events: ReceiverDomainEvents | None
    retention: AlertRetention | None
    deadmans_switch: DeadMansSwitch | None

    def start(self) -> None:
        for sender in self.senders:
            sender.start()
        if self.domain_events is not None:
            self.domain_events.start()
        if self.retention is not None:
            self.retention.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop everything; each sender finishes its send in flight (they stop side by side)."""
        for sender in self.senders:
            sender.request_stop()
        for sender in self.senders:
            sender.stop(timeout)
        if self.domain_events is not None:
            self.domain_events.close()  # flushes the producer; unrelayed events stay in the outbox
        if self.retention is not None:
            self.retention.stop()

    def use_policy(self, policy: RoutingPolicy) -> None:
        for sender in self.senders:
            sender.use_policy(policy)
        if self.deadmans_switch is not None:
            self.deadmans_switch.use_policy(policy)


def build_background(
    config: ReceiverConfig,
    database: PostgresDatabase | SqliteDatabase | None,
    history: AlertHistory,
    channels: Callable[[], Mapping[str, Channel]],
    policy: RoutingPolicy,
    metrics: DeliveryMetrics,
    clock: Callable[[], float],
    *,
    domain_events: ReceiverDomainEvents | None,
    deadmans_switch: DeadMansSwitch | None,
    tracer: Tracer | None = None,
    incidents: IncidentEscalations | None = None,
    senders: int = 1,
) -> Background:
    """``channels`` builds one set of channel clients per sender (HTTP sessions are not shared);
    ``incidents``: the store's incidents, escalated by the senders like alerts (None: incidents off)."""
    workers = [
        DeliveryWorker(
            history,
            channels(),
            policy,
            metrics,
            clock,
            Backoff(config.retry_base, config.retry_max),
            poll_interval=config.poll_interval,
            batch=DELIVERY_BATCH,
            lease=claim_lease(config.send_timeout),
            deadmans_switch=deadmans_switch,
            tracer=tracer,
            incidents=incidents,
            name=f"receiver-delivery-{n}",
        )
        for n in range(senders)
    ]
    retention = None
    if database is not None:
        retention = AlertRetention(
            database,
            config.shared.retention.alerts_seconds,
            clock,
            extra=RETAINED_WITH_ALERTS,
            purgers=(incident_purger(database), audit_purger(database)),
        )
    return Background(workers, domain_events, retention, deadmans_switch)


@dataclass(frozen=True)
class Signals:
    """What the process was told: stop (SIGTERM, SIGINT), re-read the routing policy (SIGHUP)."""

    stop: threading.Event
    reload: threading.Event


def serve(config: ReceiverConfig, tracer: Tracer, clock: Callable[[], float], signals: Signals, parent: int) -> int:
    """Run the background work until told to stop or the ``parent`` process is gone; apply reloads meanwhile."""
    database = open_database(config, config.delivery_threads + SUPPORT_CONNECTIONS)
    registry = CollectorRegistry()  # under PROMETHEUS_MULTIPROC_DIR the counters land in files the workers serve
    domain_events = None
    if config.domain_events:
        domain_events = build_domain_events(config, SqlEventOutbox(database, clock), registry, clock)
    history = SqlAlertHistory(
        database,
        None if domain_events is None else domain_events.outbox,
        audit_log=SqlAuditLog(database, clock),
        stale_firing_grace=config.stale_firing_grace,
    )
    policy = _policy(config)
    metrics = DeliveryMetrics(registry)
    composer = build_composer(
        config.notifications, clock, lambda template: metrics.template_errors.labels(template).inc()
    )

    def channels() -> Mapping[str, Channel]:
        return build_channels(config.channels, config.send_timeout, composer)

    configured = frozenset(channels())
    switch = None
    if config.deadmans_switch:
        switch = DeadMansSwitch(
            history, policy, configured, clock, config.deadmans_window, check_interval=config.poll_interval
        )
    background = build_background(
        config,
        database,
        history,
        channels,
        policy,
        metrics,
        clock,
        domain_events=domain_events,
        deadmans_switch=switch,
        tracer=tracer,
        incidents=history,  # escalating an incident needs no topology: its component is stored with it
        senders=config.delivery_threads,
    )
    try:
        if not _migrated(history, signals.stop, parent):
            return 0
        background.start()
        log.info("delivery started", senders=len(background.senders), channels=sorted(configured))
        while not signals.stop.wait(PARENT_CHECK):
            if signals.reload.is_set():
                signals.reload.clear()
                _reload(background, config)
            if os.getppid() != parent:
                log.warning("delivery stopping: the receiver that started it is gone")
                break
    finally:
        background.stop()
        database.close()
        log.info("delivery stopped")
    return 0


def _policy(config: ReceiverConfig) -> RoutingPolicy:
    return RoutingPolicy.from_file(config.routing_file) if config.routing_file else RoutingPolicy()


def _reload(background: Background, config: ReceiverConfig) -> None:
    try:
        policy = _policy(config)
    except ConfigError as exc:  # the web worker checked the file before the SIGHUP; it changed since
        log.error("routing policy reload failed; the previous one stays", error=str(exc))
        return
    background.use_policy(policy)
    log.info("routing policy reloaded", path=str(config.routing_file))


def _migrated(history: AlertHistory, stop: threading.Event, parent: int) -> bool:
    """The schema is there (migrating is idempotent, under a lock); waits while the database is down,
    unless told to stop or the parent is gone meanwhile (then False)."""
    while True:
        try:
            history.migrate()
        except DatabaseUnavailable as exc:
            log.error("delivery waiting for the database", reason=str(exc))
            if stop.wait(PARENT_CHECK) or os.getppid() != parent:
                return False
        else:
            return True


def main(argv: list[str] | None = None) -> int:
    """``python -m receiver.delivery.process [--parent PID]``, as the receiver's gunicorn master starts it
    (``--parent``: the process whose end ends this one; by default the one that started it)."""
    parser = argparse.ArgumentParser(prog="python -m receiver.delivery.process", description=main.__doc__)
    parser.add_argument("--parent", type=int, default=os.getppid(), help="stop when this process is gone")
    parent = parser.parse_args(argv).parent
    if os.getppid() != parent:  # it died while this one started
        return 0
    try:
        config = ReceiverConfig.from_environ(os.environ)
    except ConfigError as exc:
        print(f"receiver delivery: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.shared.log_format, config.shared.log_level)
    signals = Signals(threading.Event(), threading.Event())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        (signals.reload if signum == signal.SIGHUP else signals.stop).set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    tracing = configure_tracing(os.environ, SERVICE_NAME)
    try:
        return serve(config, tracing.tracer("receiver"), time.time, signals, parent)
    finally:
        tracing.shutdown()  # flush the last delivery spans


if __name__ == "__main__":
    sys.exit(main())
