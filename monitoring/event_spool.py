"""A bounded, durable local spool of domain events waiting to be published and stored.

The exporter writes its domain events here (the receiver has its own outbox table in its
database); the relay drains it to Kafka and the event store independently, so one of them
being down does not hold back the other. An event leaves the spool once it is both published
and stored. When the spool is full the oldest events are dropped and counted: the exporter
must keep running, and newer summaries are worth more than older ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import msgspec

from monitoring.cloudevents import CloudEvent
from monitoring.sqlite_connection import transaction

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(CloudEvent)


class Stage(StrEnum):
    PUBLISHED = "published"
    STORED = "stored"


class EventSpool:
    def __init__(self, path: Path, capacity: int) -> None:
        self._path = path
        self._capacity = capacity
        self.dropped = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with transaction(self._path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS spool (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    event BLOB NOT NULL,
                    published INTEGER NOT NULL DEFAULT 0,
                    stored INTEGER NOT NULL DEFAULT 0
                )"""
            )

    def add(self, events: Sequence[CloudEvent]) -> int:
        """Spool events (an id already spooled is ignored); returns how many were dropped to fit."""
        with transaction(self._path) as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO spool (id, event) VALUES (?, ?)",
                [(event.id, _ENCODER.encode(event)) for event in events],
            )
            (size,) = conn.execute("SELECT count(*) FROM spool").fetchone()
            excess = max(0, size - self._capacity)
            if excess:
                conn.execute("DELETE FROM spool WHERE seq IN (SELECT seq FROM spool ORDER BY seq LIMIT ?)", (excess,))
        self.dropped += excess
        return int(excess)

    def pending(self, stage: Stage, limit: int) -> list[CloudEvent]:
        column = _column(stage)
        with transaction(self._path) as conn:
            rows = conn.execute(
                f"SELECT event FROM spool WHERE {column} = 0 ORDER BY seq LIMIT ?",  # noqa: S608 - fixed column
                (limit,),
            ).fetchall()
        return [_DECODER.decode(row[0]) for row in rows]

    def mark(self, stage: Stage, ids: Sequence[str]) -> None:
        if not ids:
            return
        column = _column(stage)
        with transaction(self._path) as conn:
            conn.executemany(f"UPDATE spool SET {column} = 1 WHERE id = ?", [(i,) for i in ids])  # noqa: S608
            conn.execute("DELETE FROM spool WHERE published = 1 AND stored = 1")

    def depth(self) -> dict[Stage, int]:
        with transaction(self._path) as conn:
            published, stored = conn.execute(
                "SELECT coalesce(sum(published = 0), 0), coalesce(sum(stored = 0), 0) FROM spool"
            ).fetchone()
        return {Stage.PUBLISHED: int(published), Stage.STORED: int(stored)}


def _column(stage: Stage) -> str:
    return {Stage.PUBLISHED: "published", Stage.STORED: "stored"}[stage]
