"""The event store: every domain event the monitoring stack publishes, kept for the events
retention (30 days by default) and queryable by type, source, aggregate, correlation and time.

Two backends behind one interface, run through one contract test suite:
``MongoEventStore`` (MongoDB, or FerretDB locally) when MONGODB_URI is set, and
``SqliteEventStore``, the embedded stand-in, when it is not.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from monitoring.cloudevents import CloudEvent

MAX_PAGE = 1000


class RetentionMode(StrEnum):
    TTL = "ttl"  # the server expires documents itself (a MongoDB TTL index)
    PURGE = "purge"  # the stack deletes old events in batches (``purge``)


class EventStoreUnavailable(Exception):
    """The store cannot be reached or written; callers keep the events and retry."""


class InvalidPageToken(ValueError):
    """A page token that this store did not issue."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored: envelope attributes, the decoded ``data``, and when it was stored.

    Times are UTC with millisecond precision (MongoDB's), in every backend alike.
    """

    id: str
    type: str
    source: str
    time: datetime
    aggregateid: str | None
    aggregateversion: int | None
    correlationid: str | None
    traceparent: str | None
    data: Any
    stored_at: datetime

    @classmethod
    def from_cloudevent(cls, event: CloudEvent, stored_at: datetime) -> StoredEvent:
        return cls(
            id=event.id,
            type=event.type,
            source=event.source,
            time=to_millis(event.time),
            aggregateid=event.aggregateid,
            aggregateversion=event.aggregateversion,
            correlationid=event.correlationid,
            traceparent=event.traceparent,
            data=msgspec.json.decode(event.data),
            stored_at=to_millis(stored_at),
        )


@dataclass(frozen=True)
class AppendResult:
    """How an append went: ``inserted`` new events; ``rejected`` ids the store refused, with why."""

    inserted: int
    rejected: dict[str, str]


@dataclass(frozen=True)
class EventQuery:
    type: str | None = None
    source: str | None = None
    aggregateid: str | None = None
    correlationid: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    limit: int = 100
    page_token: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[StoredEvent]
    next_page_token: str | None


class EventStore(Protocol):
    @property
    def retention_mode(self) -> RetentionMode: ...

    def prepare(self) -> None:
        """Create indexes (or tables) and detect how retention is enforced. Idempotent."""
        ...

    def append(self, events: Sequence[CloudEvent]) -> AppendResult:
        """Store events; an id already stored is skipped, a document the store refuses is
        reported in ``rejected`` (and never blocks the others)."""
        ...

    def get(self, event_id: str) -> StoredEvent | None: ...

    def find(self, query: EventQuery) -> EventPage:
        """Events matching ``query`` in (time, id) order, one page at a time. Raises
        ``InvalidPageToken`` for a foreign token, ``EventStoreUnavailable`` when unreachable."""
        ...

    def purge(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete events older than the retention, in batches. Returns how many."""
        ...

    def close(self) -> None: ...


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_millis(moment: datetime) -> int:
    """Exact integer milliseconds since the epoch (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def to_millis(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def cutoff(now: datetime, retention_seconds: float) -> datetime:
    return to_millis(now) - timedelta(seconds=retention_seconds)


def encode_page_token(last: StoredEvent) -> str:
    raw = f"{epoch_millis(last.time)}|{last.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        millis, event_id = raw.split("|", 1)
        return EPOCH + timedelta(milliseconds=int(millis)), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidPageToken(f"invalid page token {token[:40]!r}") from exc


def page_limit(query: EventQuery) -> int:
    return max(1, min(query.limit, MAX_PAGE))
