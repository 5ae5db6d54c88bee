"""The receiver's domain-event outbox: table ``domain_event_outbox`` in the alert-history database.

``add`` writes events on the caller's connection, inside the transaction that records the
alert, so an alert recorded means its events are recorded (the transactional outbox). The
relay (``monitoring/event_relay.py``) drains it through ``pending``/``mark``, once per stage:
published to Kafka, appended to the event store.

Several relays (one per receiver instance, in its delivery process) share the table. ``pending`` claims
rows for this outbox's owner with a lease: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, on
SQLite under its single writer. A relay asks again every round; its own rows come back to it
(the publisher skips those still in flight, retries those that failed) and every row it holds
has its lease renewed once half of it has run, so while the owner lives no other relay takes them. A process
that dies frees its rows when the lease ends; only then can an event go out twice, and the
event store and consumers skip a repeated id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import msgspec

from monitoring.cloudevents import CloudEvent
from monitoring.event_spool import Stage
from receiver.store.database import PostgresDatabase, SqliteDatabase

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(CloudEvent)
_DONE_COLUMN = {Stage.PUBLISHED: "published_at", Stage.STORED: "stored_at"}
DEFAULT_LEASE = 30.0


@dataclass(frozen=True)
class StageBacklog:
    pending: int
    oldest_pending_age: float  # seconds; 0 when nothing is pending


class SqlEventOutbox:
    def __init__(
        self,
        database: PostgresDatabase | SqliteDatabase,
        clock: Callable[[], float] = time.time,
        lease: float = DEFAULT_LEASE,
        owner: str | None = None,
    ) -> None:
        self._db = database
        self._postgres = isinstance(database, PostgresDatabase)
        self._clock = clock
        self._lease = lease
        self.owner = owner or uuid.uuid4().hex
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if self._postgres else ""

    def _tx(self) -> AbstractContextManager[Any]:
        return self._db.connect()

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    # --- written by the alert history, in its transaction ---

    def add(self, conn: Any, events: Sequence[CloudEvent], now: float) -> None:
        """Insert ``events`` on ``conn`` (the caller's open transaction); a known id is skipped."""
        if not events:
            return
        if self._postgres:  # one statement and one JSON document: no round trip of its own in a pipeline
            document = [
                {
                    "id": e.id,
                    "type": e.type,
                    "aggregate": e.aggregateid or e.source,
                    "event": e,  # nested as JSON and stored as its text, byte for byte as encoded here
                    "traceparent": e.traceparent,
                }
                for e in events
            ]
            conn.execute(
                "INSERT INTO domain_event_outbox (id, type, aggregate, event, traceparent, created_at) "
                "SELECT id, type, aggregate, event::text, traceparent, %s FROM json_to_recordset(%s::json) "
                "AS e(id text, type text, aggregate text, event json, traceparent text) ON CONFLICT (id) DO NOTHING",
                (now, _ENCODER.encode(document).decode()),
            )
            return
        rows = [
            (e.id, e.type, e.aggregateid or e.source, _ENCODER.encode(e).decode(), e.traceparent, now) for e in events
        ]
        conn.cursor().executemany(
            "INSERT INTO domain_event_outbox (id, type, aggregate, event, traceparent, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            rows,
        )

    # --- the relay's side (``monitoring.event_relay.DomainEventOutbox``) ---

    def pending(self, stage: Stage, limit: int) -> list[CloudEvent]:
        """Up to ``limit`` events not yet through ``stage``, oldest first, claimed for this owner."""
        done = _DONE_COLUMN[stage]
        now = self._clock()
        renew_at = now + self._lease / 2
        with self._tx() as conn:
            # 1. This owner's rows past half their lease get a new one (rarely: once per half lease),
            #    all of them, however many: no row it may still be publishing can lapse meanwhile.
            conn.execute(
                self._sql(
                    "UPDATE domain_event_outbox SET lease_until = %s WHERE claimed_by = %s "  # noqa: S608 - fixed column names
                    f"AND {done} IS NULL AND lease_until > %s AND lease_until <= %s"
                ),
                (now + self._lease, self.owner, now, renew_at),
            )
            # 2. This owner's rows, oldest first: read, not rewritten.
            held = conn.execute(
                self._sql(
                    f"SELECT seq, event FROM domain_event_outbox WHERE {done} IS NULL AND claimed_by = %s "  # noqa: S608 - fixed column names
                    # limits written in, not parameters: PostgreSQL plans these once, not at every round
                    f"AND lease_until > %s ORDER BY seq LIMIT {int(limit)}"
                ),
                (self.owner, now),
            ).fetchall()
            claimed: list[Any] = []
            if len(held) < limit:
                # 3. Rows nobody holds (new, or their lease ended) for this owner.
                claimed = conn.execute(
                    self._sql(
                        "UPDATE domain_event_outbox SET lease_until = %s, "  # noqa: S608 - fixed column names
                        "attempts = attempts + CASE WHEN claimed_by = %s THEN 0 ELSE 1 END, claimed_by = %s "
                        "WHERE seq IN (SELECT seq FROM domain_event_outbox "
                        f"WHERE {done} IS NULL AND (lease_until IS NULL OR lease_until <= %s) "
                        f"ORDER BY seq LIMIT {int(limit - len(held))}{self._skip_locked}) RETURNING seq, event"
                    ),
                    (now + self._lease, self.owner, self.owner, now),
                ).fetchall()
        rows = sorted([*held, *claimed], key=lambda row: int(row[0]))
        return [_DECODER.decode(row[1]) for row in rows]

    def mark(self, stage: Stage, ids: Sequence[str]) -> None:
        if not ids:
            return
        done = _DONE_COLUMN[stage]
        now = self._clock()
        with self._tx() as conn:
            if self._postgres:  # one statement for the batch
                conn.execute(
                    f"UPDATE domain_event_outbox SET {done} = %s WHERE id = ANY(%s) AND {done} IS NULL",  # noqa: S608 - fixed column names
                    (now, list(ids)),
                )
                return
            conn.cursor().executemany(
                f"UPDATE domain_event_outbox SET {done} = ? WHERE id = ? AND {done} IS NULL",  # noqa: S608 - fixed column names
                [(now, event_id) for event_id in ids],
            )

    # --- upkeep and metrics ---

    def prune(self, before: float, batch: int = 1000) -> int:
        """Delete events published and stored, written before ``before``, in short batches."""
        total = 0
        while True:
            with self._tx() as conn:
                deleted = conn.execute(
                    self._sql(
                        "DELETE FROM domain_event_outbox WHERE seq IN (SELECT seq FROM domain_event_outbox "
                        "WHERE created_at < %s AND published_at IS NOT NULL AND stored_at IS NOT NULL "
                        "ORDER BY seq LIMIT %s)"
                    ),
                    (before, batch),
                ).rowcount
            deleted = int(deleted)
            total += deleted
            if deleted < batch:
                return total

    def backlog(self) -> dict[Stage, StageBacklog]:
        now = self._clock()
        with self._tx() as conn:
            row = conn.execute(
                "SELECT SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END), "
                "MIN(CASE WHEN published_at IS NULL THEN created_at END), "
                "SUM(CASE WHEN stored_at IS NULL THEN 1 ELSE 0 END), "
                "MIN(CASE WHEN stored_at IS NULL THEN created_at END) "
                "FROM domain_event_outbox WHERE published_at IS NULL OR stored_at IS NULL"
            ).fetchone()
        return {
            Stage.PUBLISHED: _backlog(row[0], row[1], now),
            Stage.STORED: _backlog(row[2], row[3], now),
        }

    def states(self) -> dict[str, tuple[bool, bool, int]]:
        """Every row's (published, stored, attempts) by event id: for tests and operators."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, published_at IS NOT NULL, stored_at IS NOT NULL, attempts FROM domain_event_outbox"
            ).fetchall()
        return {str(r[0]): (bool(r[1]), bool(r[2]), int(r[3])) for r in rows}


def _backlog(count: Any, oldest: Any, now: float) -> StageBacklog:
    return StageBacklog(int(count or 0), 0.0 if oldest is None else max(0.0, now - float(oldest)))
