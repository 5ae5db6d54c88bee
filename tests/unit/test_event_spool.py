from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, new_event
from monitoring.event_spool import EventSpool, Stage


def collected(n: int) -> CloudEvent:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    data = c.MetricCollected(collector="business", started_at=at, duration_seconds=0.1, samples=n, errors=0)
    return new_event(id=f"m-{n}", type="MetricCollected", source="monitoring-exporter", time=at, data=data)


def test_events_leave_the_spool_once_published_and_stored(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=100)
    spool.add([collected(n) for n in range(3)])
    assert [e.id for e in spool.pending(Stage.PUBLISHED, 10)] == ["m-0", "m-1", "m-2"]
    spool.mark(Stage.PUBLISHED, ["m-0", "m-1"])
    spool.mark(Stage.STORED, ["m-1", "m-2"])
    assert spool.depth() == {Stage.PUBLISHED: 1, Stage.STORED: 1}
    assert [e.id for e in spool.pending(Stage.PUBLISHED, 10)] == ["m-2"]
    assert [e.id for e in spool.pending(Stage.STORED, 10)] == ["m-0"]


def test_a_full_spool_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path / "spool.sqlite3", capacity=5)
    assert spool.add([collected(n) for n in range(4)]) == 0
    assert spool.add([collected(n) for n in range(4, 8)]) == 3
    assert spool.dropped == 3
    assert [e.id for e in spool.pending(Stage.STORED, 10)] == ["m-3", "m-4", "m-5", "m-6", "m-7"]


def test_the_spool_survives_a_restart_and_ignores_repeated_ids(tmp_path: Path) -> None:
    EventSpool(tmp_path / "spool.sqlite3", capacity=10).add([collected(1), collected(2)])
    reopened = EventSpool(tmp_path / "spool.sqlite3", capacity=10)
    reopened.add([collected(2)])
    assert reopened.pending(Stage.PUBLISHED, 10) == [collected(1), collected(2)]
