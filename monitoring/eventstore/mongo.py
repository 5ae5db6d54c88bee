"""The event store on MongoDB (FerretDB locally): collection ``events``, unique on ``id``.

Retention is a TTL index on ``time`` where the server supports one. Support is detected by
asking for the index: FerretDB answers NotImplemented, and the store falls back to deleting
old events in batches (``purge``), which a scheduler calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson.codec_options import CodecOptions
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from monitoring.cloudevents import CloudEvent
from monitoring.eventstore import (
    AppendResult,
    EventPage,
    EventQuery,
    EventStoreUnavailable,
    RetentionMode,
    StoredEvent,
    cutoff,
    decode_page_token,
    encode_page_token,
    page_limit,
    to_millis,
)

COLLECTION = "events"
_DUPLICATE_KEY = 11000
# Codes meaning "this server cannot build that index": NotImplemented (FerretDB),
# CannotCreateIndex, InvalidIndexSpecificationOption.
_TTL_UNSUPPORTED = {238, 67, 197}


class MongoEventStore:
    def __init__(
        self,
        database: Database[dict[str, Any]],
        retention_seconds: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._events: Collection[dict[str, Any]] = database.get_collection(
            COLLECTION, codec_options=CodecOptions(tz_aware=True, tzinfo=UTC)
        )
        self._retention = retention_seconds
        self._now = now
        self._mode = RetentionMode.PURGE

    @property
    def retention_mode(self) -> RetentionMode:
        return self._mode

    def prepare(self) -> None:
        try:
            self._prepare()
        except PyMongoError as exc:
            raise EventStoreUnavailable(f"MongoDB unavailable: {type(exc).__name__}") from exc

    def _prepare(self) -> None:
        self._events.create_index("id", unique=True, name="id_unique")
        for field in ("type", "source", "aggregateid", "correlationid"):
            self._events.create_index([(field, pymongo.ASCENDING), ("time", pymongo.ASCENDING)], name=f"{field}_time")
        self._events.create_index([("time", pymongo.ASCENDING), ("id", pymongo.ASCENDING)], name="time_id")
        self._mode = self._detect_ttl()

    def _detect_ttl(self) -> RetentionMode:
        try:
            self._events.create_index("time", name="time_ttl", expireAfterSeconds=int(self._retention))
        except OperationFailure as exc:
            if exc.code in _TTL_UNSUPPORTED:
                return RetentionMode.PURGE
            if exc.code in (85, 86):  # IndexOptionsConflict / IndexKeySpecsConflict: retention changed
                self._events.database.command(
                    "collMod", COLLECTION, index={"name": "time_ttl", "expireAfterSeconds": int(self._retention)}
                )
                return RetentionMode.TTL
            raise
        return RetentionMode.TTL

    def append(self, events: Sequence[CloudEvent]) -> AppendResult:
        if not events:
            return AppendResult(0, {})
        stored_at = self._now()
        documents = [self._document(StoredEvent.from_cloudevent(event, stored_at)) for event in events]
        try:
            result = self._events.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            rejected = {
                documents[error["index"]]["id"]: f"code {error.get('code')}: {str(error.get('errmsg', ''))[:200]}"
                for error in exc.details.get("writeErrors", [])
                if error.get("code") != _DUPLICATE_KEY
            }
            return AppendResult(int(exc.details.get("nInserted", 0)), rejected)
        except PyMongoError as exc:
            raise EventStoreUnavailable(f"MongoDB unavailable: {type(exc).__name__}") from exc
        return AppendResult(len(result.inserted_ids), {})

    @staticmethod
    def _document(event: StoredEvent) -> dict[str, Any]:
        return {
            "id": event.id, "type": event.type, "source": event.source, "time": event.time,
            "aggregateid": event.aggregateid, "aggregateversion": event.aggregateversion,
            "correlationid": event.correlationid, "traceparent": event.traceparent,
            "data": event.data, "stored_at": event.stored_at,
        }  # fmt: skip

    @staticmethod
    def _event(document: dict[str, Any]) -> StoredEvent:
        return StoredEvent(
            id=document["id"],
            type=document["type"],
            source=document["source"],
            time=document["time"],
            aggregateid=document.get("aggregateid"),
            aggregateversion=document.get("aggregateversion"),
            correlationid=document.get("correlationid"),
            traceparent=document.get("traceparent"),
            data=document.get("data"),
            stored_at=document["stored_at"],
        )

    def get(self, event_id: str) -> StoredEvent | None:
        document = self._events.find_one({"id": event_id}, {"_id": 0})
        return None if document is None else self._event(document)

    def find(self, query: EventQuery) -> EventPage:
        try:
            return self._find(query)
        except PyMongoError as exc:
            raise EventStoreUnavailable(f"MongoDB unavailable: {type(exc).__name__}") from exc

    def _find(self, query: EventQuery) -> EventPage:
        conditions: list[dict[str, Any]] = []
        for field in ("type", "source", "aggregateid", "correlationid"):
            value = getattr(query, field)
            if value is not None:
                conditions.append({field: value})
        if query.since is not None:
            conditions.append({"time": {"$gte": to_millis(query.since)}})
        if query.until is not None:
            conditions.append({"time": {"$lt": to_millis(query.until)}})
        if query.page_token is not None:
            after_time, after_id = decode_page_token(query.page_token)
            conditions.append({"$or": [{"time": {"$gt": after_time}}, {"time": after_time, "id": {"$gt": after_id}}]})
        limit = page_limit(query)
        cursor = (
            self._events.find({"$and": conditions} if conditions else {}, {"_id": 0})
            .sort([("time", pymongo.ASCENDING), ("id", pymongo.ASCENDING)])
            .limit(limit + 1)
        )
        documents = list(cursor)
        events = [self._event(document) for document in documents[:limit]]
        token = encode_page_token(events[-1]) if len(documents) > limit else None
        return EventPage(events, token)

    def purge(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete events older than the retention in batches of ``batch_size`` (either mode)."""
        try:
            return self._purge(now, batch_size)
        except PyMongoError as exc:
            raise EventStoreUnavailable(f"MongoDB unavailable: {type(exc).__name__}") from exc

    def _purge(self, now: datetime, batch_size: int) -> int:
        limit = cutoff(now, self._retention)
        total = 0
        while True:
            ids = [d["_id"] for d in self._events.find({"time": {"$lt": limit}}, {"_id": 1}).limit(batch_size)]
            if not ids:
                return total
            total += self._events.delete_many({"_id": {"$in": ids}}).deleted_count
            if len(ids) < batch_size:
                return total

    def close(self) -> None:
        return None
