"""The receiver's domain-event outbox: table ``domain_event_outbox`` in the alert-history database.

``add`` writes events on the caller's connection, inside the transaction that records the
alert, so an alert recorded means its events are recorded (the transactional outbox). The
relay (``monitoring/event_relay.py``) drains it through ``pending``/``mark``, once per stage:
published to Kafka, appended to the event store.

An alert's events are written by reference (``add_deferred``: id, type, alert id, and the
instant of a resolution; about a tenth of the event's bytes) and ``pending`` builds each from the
alert's row (``alert_events.build``), the same event whichever stage asks and however often:
what the row holds of it does not change after the alert is recorded, except its labels and
annotations, which ``keep`` copies onto the alert's unbuilt events in the transaction that changes
them. An alert with events by reference is not purged before they are (``retention.py``).

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
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import structlog

from monitoring.cloudevents import CloudEvent
from monitoring.event_spool import Stage
from receiver.store import alert_events
from receiver.store.alert_events import AlertFacts, Deferred, Unbuildable
from receiver.store.database import PostgresDatabase, SqliteDatabase

log = structlog.get_logger(__name__)

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(CloudEvent)
_LABELS = msgspec.json.Decoder(dict[str, str])
_DONE_COLUMN = {Stage.PUBLISHED: "published_at", Stage.STORED: "stored_at"}
# What ``pending`` reads of a row: the event, or what its reference needs to build it.
_ROW = "seq, event, id, type, alert_id, at, traceparent, labels, annotations"
DEFAULT_LEASE = 30.0
PARKED = 3600.0  # how long an event that cannot be built waits before the relay tries it again


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

    def add_deferred(self, conn: Any, events: Sequence[Deferred], now: float) -> None:
        """Insert alert events by reference on ``conn`` (the caller's transaction); a known id is skipped."""
        if not events:
            return
        rows = [(e.id, e.type, e.fingerprint, e.alert_id, e.at, e.traceparent) for e in events]
        if self._postgres:  # one array per column, sent in binary: nothing for the server to parse
            columns = [list(column) for column in zip(*rows, strict=True)]
            conn.cursor().execute(
                "INSERT INTO domain_event_outbox (id, type, aggregate, alert_id, at, traceparent, created_at) "
                "SELECT *, %b::float8 FROM unnest(%b::text[], %b::text[], %b::text[], %b::int8[], %b::float8[], "
                "%b::text[]) ON CONFLICT (id) DO NOTHING",
                [now, *columns],
                binary=True,
            )
            return
        conn.cursor().executemany(
            "INSERT INTO domain_event_outbox (id, type, aggregate, alert_id, at, traceparent, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            [(*row, now) for row in rows],
        )

    def keep(self, conn: Any, alert_id: int) -> None:
        """Before the alert's labels or annotations change (on ``conn``, in that transaction): its
        events by reference keep the ones they were recorded with. One statement, no answer awaited."""
        conn.execute(
            self._sql(
                "UPDATE domain_event_outbox SET "
                "labels = (SELECT labels FROM alerts WHERE alerts.id = domain_event_outbox.alert_id), "
                "annotations = (SELECT annotations FROM alerts WHERE alerts.id = domain_event_outbox.alert_id) "
                "WHERE alert_id = %s AND event IS NULL AND labels IS NULL"
            ),
            (alert_id,),
        )

    # --- the relay's side (``monitoring.event_relay.DomainEventOutbox``) ---

    def pending(self, stage: Stage, limit: int, *, parked: Callable[[int], None] = lambda n: None) -> list[CloudEvent]:
        """Up to ``limit`` events not yet through ``stage``, oldest first, claimed for this owner.
        ``parked`` is told how many rows this round could not build (and parked)."""
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
                    f"SELECT {_ROW} FROM domain_event_outbox WHERE {done} IS NULL AND claimed_by = %s "  # noqa: S608 - fixed column names
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
                        f"ORDER BY seq LIMIT {int(limit - len(held))}{self._skip_locked}) RETURNING {_ROW}"
                    ),
                    (now + self._lease, self.owner, self.owner, now),
                ).fetchall()
            rows = sorted([*held, *claimed], key=lambda row: int(row[0]))
            alerts = self._alerts(conn, {int(row[4]) for row in rows if row[1] is None})
            events, unbuilt = [], []
            for row in rows:
                event = _DECODER.decode(row[1]) if row[1] is not None else _built(row, alerts)
                if event is not None:
                    events.append(event)
                else:
                    unbuilt.append(int(row[0]))
            if unbuilt:  # 4. Rows that cannot be built: nobody's, and left alone for a while (PARKED).
                marks = ", ".join(["%s"] * len(unbuilt))
                release = f"UPDATE domain_event_outbox SET claimed_by = NULL, lease_until = %s WHERE seq IN ({marks})"  # noqa: S608 - placeholders only
                conn.execute(self._sql(release), (now + PARKED, *unbuilt))
        if unbuilt:
            parked(len(unbuilt))
        return events

    def _alerts(self, conn: Any, ids: set[int]) -> dict[int, AlertFacts]:
        """The alerts that events by reference name, as their rows hold them."""
        if not ids:
            return {}
        columns = "id, fingerprint, starts_at, alertname, priority, service, labels, annotations, generator_url"
        if self._postgres:
            found = conn.execute(f"SELECT {columns} FROM alerts WHERE id = ANY(%s)", (sorted(ids),)).fetchall()  # noqa: S608 - fixed column names
        else:
            marks = ", ".join("?" * len(ids))
            found = conn.execute(f"SELECT {columns} FROM alerts WHERE id IN ({marks})", sorted(ids)).fetchall()  # noqa: S608 - placeholders only
        return {
            int(r[0]): AlertFacts(
                fingerprint=r[1],
                starts_at=float(r[2]),
                alertname=r[3],
                priority=r[4],
                service=r[5],
                labels=_LABELS.decode(r[6]),
                annotations=_LABELS.decode(r[7]),
                generator_url=r[8],
            )
            for r in found
        }

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


def _built(row: Sequence[Any], alerts: dict[int, AlertFacts]) -> CloudEvent | None:
    """The event a row refers to, built from its alert (labels and annotations as kept, if they
    changed since); None, logged, when it cannot be: its alert is gone or its type unknown here.
    Such a row stays in the outbox, in the backlog an operator sees, tried again every ``PARKED``
    seconds, and holds up no other."""
    _, _, event_id, event_type, alert_id, at, traceparent, labels, annotations = row
    alert = alerts.get(int(alert_id))
    if alert is None:
        log.error("domain_event_unbuildable", id=event_id, type=event_type, alert_id=alert_id, reason="alert not found")
        return None
    if labels is not None:
        alert = replace(alert, labels=_LABELS.decode(labels), annotations=_LABELS.decode(annotations))
    deferred = Deferred(event_id, event_type, int(alert_id), alert.fingerprint, at, traceparent)
    try:
        return alert_events.build(deferred, alert)
    except Unbuildable as exc:
        log.error("domain_event_unbuildable", id=event_id, type=event_type, alert_id=alert_id, reason=str(exc))
        return None


def _backlog(count: Any, oldest: Any, now: float) -> StageBacklog:
    return StageBacklog(int(count or 0), 0.0 if oldest is None else max(0.0, now - float(oldest)))
