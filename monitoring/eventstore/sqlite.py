"""The embedded stand-in event store: one SQLite file, used when MONGODB_URI is unset."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitoring.cloudevents import CloudEvent
from monitoring.eventstore import (
    EPOCH,
    AppendResult,
    EventPage,
    EventQuery,
    EventStoreUnavailable,
    RetentionMode,
    StoredEvent,
    cutoff,
    decode_page_token,
    encode_page_token,
    epoch_millis,
    page_limit,
    to_millis,
)
from monitoring.sqlite_connection import transaction

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        source TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        aggregateid TEXT,
        aggregateversion INTEGER,
        correlationid TEXT,
        traceparent TEXT,
        data TEXT NOT NULL,
        stored_at_ms INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_time ON events (time_ms, id)",
    "CREATE INDEX IF NOT EXISTS events_type ON events (type, time_ms)",
    "CREATE INDEX IF NOT EXISTS events_source ON events (source, time_ms)",
    "CREATE INDEX IF NOT EXISTS events_aggregate ON events (aggregateid, time_ms)",
    "CREATE INDEX IF NOT EXISTS events_correlation ON events (correlationid, time_ms)",
)
_COLUMNS = "id, type, source, time_ms, aggregateid, aggregateversion, correlationid, traceparent, data, stored_at_ms"
# Statements are built from these constants only; every value is a bound parameter.
_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_SELECT = f"SELECT {_COLUMNS} FROM events"  # noqa: S608


def _ms(moment: datetime) -> int:
    return epoch_millis(moment)


def _moment(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


class SqliteEventStore:
    def __init__(
        self,
        path: Path,
        retention_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._path = path
        self._retention = retention_seconds
        self._now = now

    @property
    def retention_mode(self) -> RetentionMode:
        return RetentionMode.PURGE

    def prepare(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with transaction(self._path) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise EventStoreUnavailable(f"SQLite event store {self._path}: {exc}") from exc

    def append(self, events: Sequence[CloudEvent]) -> AppendResult:
        stored_at = self._now()
        rows = [self._row(StoredEvent.from_cloudevent(event, stored_at)) for event in events]
        try:
            with transaction(self._path) as conn:
                before = conn.total_changes
                conn.executemany(_INSERT, rows)
                return AppendResult(conn.total_changes - before, {})
        except sqlite3.Error as exc:
            raise EventStoreUnavailable(f"SQLite event store {self._path}: {exc}") from exc

    @staticmethod
    def _row(event: StoredEvent) -> tuple[Any, ...]:
        return (
            event.id, event.type, event.source, _ms(event.time), event.aggregateid, event.aggregateversion,
            event.correlationid, event.traceparent, json.dumps(event.data), _ms(event.stored_at),
        )  # fmt: skip

    @staticmethod
    def _event(row: tuple[Any, ...]) -> StoredEvent:
        return StoredEvent(
            id=row[0], type=row[1], source=row[2], time=_moment(row[3]), aggregateid=row[4],
            aggregateversion=row[5], correlationid=row[6], traceparent=row[7], data=json.loads(row[8]),
            stored_at=_moment(row[9]),
        )  # fmt: skip

    def get(self, event_id: str) -> StoredEvent | None:
        with transaction(self._path) as conn:
            row = conn.execute(_SELECT + " WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else self._event(row)

    def find(self, query: EventQuery) -> EventPage:
        try:
            return self._find(query)
        except sqlite3.Error as exc:
            raise EventStoreUnavailable(f"SQLite event store {self._path}: {exc}") from exc

    def _find(self, query: EventQuery) -> EventPage:
        where: list[str] = []
        params: list[Any] = []
        for column in ("type", "source", "aggregateid", "correlationid"):
            value = getattr(query, column)
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            where.append("time_ms >= ?")
            params.append(_ms(to_millis(query.since)))
        if query.until is not None:
            where.append("time_ms < ?")
            params.append(_ms(to_millis(query.until)))
        if query.page_token is not None:
            after_time, after_id = decode_page_token(query.page_token)
            where.append("(time_ms > ? OR (time_ms = ? AND id > ?))")
            params.extend([_ms(after_time), _ms(after_time), after_id])
        limit = page_limit(query)
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time_ms, id LIMIT ?"
        with transaction(self._path) as conn:
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        events = [self._event(row) for row in rows[:limit]]
        token = encode_page_token(events[-1]) if len(rows) > limit else None
        return EventPage(events, token)

    def purge(self, now: datetime, batch_size: int = 1000) -> int:
        try:
            return self._purge(now, batch_size)
        except sqlite3.Error as exc:
            raise EventStoreUnavailable(f"SQLite event store {self._path}: {exc}") from exc

    def _purge(self, now: datetime, batch_size: int) -> int:
        limit = _ms(cutoff(now, self._retention))
        total = 0
        while True:
            with transaction(self._path) as conn:  # one short transaction per batch
                deleted = conn.execute(
                    "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE time_ms < ? LIMIT ?)",
                    (limit, batch_size),
                ).rowcount
            total += deleted
            if deleted < batch_size:
                return total

    def close(self) -> None:
        return None
