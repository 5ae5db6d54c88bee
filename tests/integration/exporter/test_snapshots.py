"""Metric snapshots on real PostgreSQL: daily partitions, COPY writes, retention and rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from exporter.snapshots import DailyRollup, SnapshotStore, partition_name

DAY = date(2026, 11, 1)
COMPLETED = 'transactions_total{status="completed",type="buy"}'


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def store(postgres_uri: str) -> SnapshotStore:
    snapshots = SnapshotStore(postgres_uri, metrics_retention_seconds=15 * 86400, rollup_retention_seconds=90 * 86400)
    snapshots.prepare(DAY)
    return snapshots


def count_rows(uri: str, table: str) -> int:
    with psycopg.connect(uri) as conn:
        row = conn.execute(psycopg.sql.SQL("SELECT count(*) FROM {}").format(psycopg.sql.Identifier(table))).fetchone()
    assert row is not None
    return int(row[0])


def test_each_cycle_lands_in_its_days_partition(store: SnapshotStore, postgres_uri: str) -> None:
    for hour, value in ((1, 10.0), (2, 30.0), (3, 20.0)):
        assert store.write(at(DAY, hour), "business", {COMPLETED: value, "assets_under_management": 5.0}) == 2
    store.write(at(DAY + timedelta(days=3), 0), "business", {COMPLETED: 99.0})
    assert partition_name(DAY) in store.partitions()
    assert partition_name(DAY + timedelta(days=3)) in store.partitions()
    assert count_rows(postgres_uri, partition_name(DAY)) == 6
    assert count_rows(postgres_uri, partition_name(DAY + timedelta(days=3))) == 1
    assert count_rows(postgres_uri, "metric_snapshots") == 7


def test_expired_days_are_rolled_up_then_dropped_and_rollups_expire_later(
    store: SnapshotStore, postgres_uri: str
) -> None:
    later = DAY + timedelta(days=1)
    for hour, value in ((1, 10.0), (2, 30.0), (3, 20.0)):
        store.write(at(DAY, hour), "business", {COMPLETED: value})
    store.write(at(later, 5), "business", {COMPLETED: 7.0})

    result = store.enforce_retention(today=DAY + timedelta(days=16))  # keeps the last 15 days
    assert result.rolled_up_days == [DAY]
    assert result.dropped_partitions == [partition_name(DAY)]
    assert partition_name(DAY) not in store.partitions()
    assert partition_name(later) in store.partitions()
    assert store.rollups(COMPLETED) == [DailyRollup(DAY, min=10.0, max=30.0, avg=20.0, last=20.0, samples=3)]

    store.enforce_retention(today=later + timedelta(days=16))
    assert [r.day for r in store.rollups(COMPLETED)] == [DAY, later]

    gone = store.enforce_retention(today=DAY + timedelta(days=91))
    assert gone.deleted_rollups == 1
    assert [r.day for r in store.rollups(COMPLETED)] == [later]


def test_rolling_up_a_day_twice_gives_the_same_rollup(store: SnapshotStore) -> None:
    store.write(at(DAY, 1), "business", {COMPLETED: 4.0})
    store.write(at(DAY, 2), "business", {COMPLETED: 8.0})
    assert store.roll_up(DAY) == 1
    first = store.rollups(COMPLETED)
    store.roll_up(DAY)
    assert store.rollups(COMPLETED) == first == [DailyRollup(DAY, 4.0, 8.0, 6.0, 8.0, 2)]


def test_retention_prepares_tomorrows_partition(store: SnapshotStore) -> None:
    store.enforce_retention(today=DAY + timedelta(days=5))
    assert partition_name(DAY + timedelta(days=6)) in store.partitions()
