"""Drains an outbox of domain events to Kafka and to the event store, each at its own pace.

Each sink has its own thread, so a store that hangs does not hold back publishing, nor the
reverse. Both are idempotent on the event id (the store skips known ids; the publisher never
re-produces an event in flight), so an event that went out but was not yet marked is at worst
offered again, never doubled in the store. The relay owns its threads: ``stop()`` ends them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from monitoring.cloudevents import CloudEvent
from monitoring.event_spool import Stage
from monitoring.eventstore import EventStore, EventStoreUnavailable, RetentionMode

log = structlog.get_logger(__name__)


class DomainEventOutbox(Protocol):
    def pending(self, stage: Stage, limit: int) -> list[CloudEvent]: ...

    def mark(self, stage: Stage, ids: Sequence[str]) -> None: ...


class Publisher(Protocol):
    """What the relay needs of a publisher; ``EventPublisher`` is the Kafka one."""

    def submit(self, events: Iterable[CloudEvent]) -> int: ...

    def poll(self, timeout: float) -> None: ...

    def take_delivered(self) -> list[str]: ...

    def take_failed(self) -> list[tuple[str, str]]: ...

    def close(self, timeout: float = 10.0) -> int: ...


class LogPublisher:
    """The in-process stand-in when KAFKA_BROKERS is unset: each event is one log line."""

    def __init__(self) -> None:
        self._delivered: list[str] = []

    def submit(self, events: Iterable[CloudEvent]) -> int:
        count = 0
        for event in events:
            log.info("domain_event", id=event.id, type=event.type, source=event.source)
            self._delivered.append(event.id)
            count += 1
        return count

    def poll(self, timeout: float) -> None:
        return None

    def take_delivered(self) -> list[str]:
        delivered, self._delivered = self._delivered, []
        return delivered

    def take_failed(self) -> list[tuple[str, str]]:
        return []

    def close(self, timeout: float = 10.0) -> int:
        return 0


@dataclass
class RelayCounts:
    published: int = 0
    stored: int = 0
    publish_failures: int = 0
    store_failures: int = 0
    rejected: int = 0
    purged: int = 0


class EventRelay:
    def __init__(
        self,
        outbox: DomainEventOutbox,
        publisher: Publisher,
        store: EventStore,
        batch_size: int = 500,
        idle_wait: float = 0.2,
        on_error: Callable[[Stage], None] = lambda stage: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        purge_every: float = 3600.0,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._store = store
        self._batch = batch_size
        self._idle_wait = idle_wait
        self._on_error = on_error
        self.counts = RelayCounts()
        self._store_ready = False
        self._now = now
        self._clock = clock
        self._purge_every = purge_every
        self._next_purge = clock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(self.publish_once,), name="event-relay-publish", daemon=True),
            threading.Thread(target=self._loop, args=(self.store_once,), name="event-relay-store", daemon=True),
        ]

    def run_once(self) -> None:
        """One round of both stages (tests and tools call it; the threads call each stage)."""
        self.publish_once()
        self.store_once()

    def publish_once(self) -> None:
        """Offer pending events to Kafka and record the deliveries reported since."""
        self._publisher.submit(self._outbox.pending(Stage.PUBLISHED, self._batch))
        self._publisher.poll(0.05)
        delivered = self._publisher.take_delivered()
        self._outbox.mark(Stage.PUBLISHED, delivered)
        self.counts.published += len(delivered)
        for event_id, error in self._publisher.take_failed():
            self.counts.publish_failures += 1
            self._on_error(Stage.PUBLISHED)
            log.warning("domain_event_publish_failed", event_id=event_id, error=error)

    def store_once(self) -> None:
        """Append pending events to the event store; purge old ones when it is time."""
        self._purge_when_due()
        self._append_pending()

    def _purge_when_due(self) -> None:
        """Without a TTL index, delete events past the retention once per ``purge_every``."""
        if not self._store_ready or self._clock() < self._next_purge:
            return
        self._next_purge = self._clock() + self._purge_every
        if self._store.retention_mode is RetentionMode.PURGE:
            try:
                purged = self._store.purge(self._now())
            except EventStoreUnavailable as exc:
                self._on_error(Stage.STORED)
                log.warning("event_store_purge_failed", error=str(exc))
                return
            self.counts.purged += purged
            if purged:
                log.info("event_store_purged", events=purged)

    def _append_pending(self) -> None:
        pending = self._outbox.pending(Stage.STORED, self._batch)
        if not pending:
            return
        try:
            if not self._store_ready:  # indexes and retention, once the store is reachable
                self._store.prepare()
                self._store_ready = True
            result = self._store.append(pending)
        except EventStoreUnavailable as exc:  # keep the events, retry next round
            self.counts.store_failures += 1
            self._on_error(Stage.STORED)
            log.warning("domain_event_store_failed", error=str(exc), pending=len(pending))
            self._stopping.wait(1.0)
            return
        for event_id, reason in result.rejected.items():
            # A document the store refuses would block the outbox forever: log it, count it
            # and move on (it is still published to Kafka).
            self.counts.rejected += 1
            self._on_error(Stage.STORED)
            log.error("domain_event_rejected_by_store", event_id=event_id, reason=reason)
        self._outbox.mark(Stage.STORED, [event.id for event in pending])
        self.counts.stored += len(pending) - len(result.rejected)

    def _loop(self, stage: Callable[[], None]) -> None:
        while not self._stopping.is_set():
            try:
                stage()
            except Exception:  # the loop's edge: log and keep relaying
                log.exception("event_relay_error", stage=stage.__name__)
                self._stopping.wait(1.0)
            self._stopping.wait(self._idle_wait)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.ident is not None:  # a relay driven by run_once (tools, tests) never started them
                thread.join(timeout)
        self._publisher.close(min(timeout, 5.0))
