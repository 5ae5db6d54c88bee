from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, new_event
from monitoring.event_relay import EventRelay, LogPublisher
from monitoring.event_spool import EventSpool, Stage
from monitoring.eventstore import AppendResult, EventPage, EventQuery, EventStoreUnavailable, RetentionMode, StoredEvent


class FakeStore:
    """Refuses ids in ``refuse``; raises while ``down``."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.refuse = set(refuse)
        self.down = False
        self.stored: list[str] = []
        self.prepared = 0

    @property
    def retention_mode(self) -> RetentionMode:
        return RetentionMode.PURGE

    def prepare(self) -> None:
        if self.down:
            raise EventStoreUnavailable("down")
        self.prepared += 1

    def append(self, events: Sequence[CloudEvent]) -> AppendResult:
        if self.down:
            raise EventStoreUnavailable("down")
        rejected = {e.id: "refused" for e in events if e.id in self.refuse}
        self.stored += [e.id for e in events if e.id not in rejected]
        return AppendResult(len(events) - len(rejected), rejected)

    def get(self, event_id: str) -> StoredEvent | None:
        return None

    def find(self, query: EventQuery) -> EventPage:
        return EventPage([], None)

    def purge(self, now: datetime, batch_size: int = 1000) -> int:
        return 0

    def close(self) -> None:
        return None


def health(n: int) -> CloudEvent:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    data = c.ServiceHealthChanged(service="s", previous="up", current="down", reason="r", checked_at=at)
    return new_event(id=f"h-{n}", type="ServiceHealthChanged", source="monitoring-exporter", time=at, data=data)


def test_a_refused_event_is_counted_and_does_not_hold_back_the_rest(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=100)
    store = FakeStore(refuse={"h-1"})
    failures: list[Stage] = []
    relay = EventRelay(spool, LogPublisher(), store, on_error=failures.append)
    spool.add([health(n) for n in range(3)])
    relay.run_once()
    assert store.stored == ["h-0", "h-2"]
    assert relay.counts.rejected == 1
    assert failures == [Stage.STORED]
    assert spool.depth() == {Stage.PUBLISHED: 0, Stage.STORED: 0}


def test_a_store_outage_keeps_events_spooled_until_it_recovers(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=100)
    store = FakeStore()
    store.down = True
    relay = EventRelay(spool, LogPublisher(), store)
    spool.add([health(1)])
    relay.store_once()
    assert spool.depth()[Stage.STORED] == 1
    assert relay.counts.store_failures == 1
    store.down = False
    relay.store_once()
    assert store.stored == ["h-1"]
    assert store.prepared == 1


class PurgingStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.purges: list[datetime] = []

    def purge(self, now: datetime, batch_size: int = 1000) -> int:
        self.purges.append(now)
        return 7


def test_without_a_ttl_index_the_relay_purges_old_events_once_per_period(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=100)
    store = PurgingStore()
    ticks = [0.0]
    now = datetime(2026, 11, 26, tzinfo=UTC)
    relay = EventRelay(spool, LogPublisher(), store, now=lambda: now, clock=lambda: ticks[0], purge_every=3600)
    spool.add([health(1)])
    relay.store_once()  # prepares the store; the first purge is due at once after that
    relay.store_once()
    relay.store_once()
    assert store.purges == [now]
    ticks[0] = 3601.0
    relay.store_once()
    assert store.purges == [now, now]
    assert relay.counts.purged == 14
