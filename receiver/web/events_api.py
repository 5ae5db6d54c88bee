"""``GET /api/v1/events``: the monitoring stack's domain events, read from the event store.

Filters: ``type``, ``source``, ``aggregate``, ``correlation_id``, ``from`` (inclusive) and ``to``
(exclusive), RFC 3339 times with a zone. Pages of ``limit`` events (1..1000, default 100) in
(time, id) order; ``next_page_token`` fetches the next page with the same filters. A bad
parameter is a 400 naming it; an unreachable store a 503.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter

from monitoring.catalogue import CATALOGUE
from monitoring.eventstore import (
    MAX_PAGE,
    EventQuery,
    EventStore,
    EventStoreUnavailable,
    InvalidPageToken,
    StoredEvent,
    decode_page_token,
)
from receiver.web.json_errors import error_response

bp = Blueprint("events", __name__, url_prefix="/api/v1")
PARAMETERS = ("type", "source", "aggregate", "correlation_id", "from", "to", "limit", "page_token")
MAX_TEXT = 1024  # the envelope's attribute limit


class EventStoreReader:
    """The event store for queries: its tables and indexes are prepared before the first one.
    Refused queries are counted by the parameter at fault."""

    def __init__(self, store: EventStore, registry: CollectorRegistry) -> None:
        self._store = store
        self._prepared = False
        self.rejected = Counter(
            "receiver_event_queries_rejected_total",
            "GET /api/v1/events requests refused with 400, by the parameter at fault",
            ["parameter"],
            registry=registry,
        )

    def find(self, query: EventQuery) -> tuple[list[StoredEvent], str | None]:
        if not self._prepared:
            self._store.prepare()
            self._prepared = True
        page = self._store.find(query)
        return page.events, page.next_page_token


class BadParameter(ValueError):
    """A query parameter that cannot be used; the message names it and what is expected."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter  # one of PARAMETERS, or "unknown": a bounded metric label


def parse_query(args: dict[str, str]) -> EventQuery:
    """The query string as an ``EventQuery``; ``BadParameter`` names what is wrong."""
    unknown = sorted(set(args) - set(PARAMETERS))
    if unknown:
        raise BadParameter(
            "unknown", f"unknown query parameters: {', '.join(unknown)}; expected {', '.join(PARAMETERS)}"
        )
    event_type = _text(args, "type")
    if event_type is not None and event_type not in CATALOGUE:
        raise BadParameter("type", f"type: {event_type!r} is not in the event catalogue (docs/events.md)")
    since, until = _time(args, "from"), _time(args, "to")
    if since is not None and until is not None and since >= until:
        raise BadParameter("from", "from must be earlier than to")
    limit = _limit(args.get("limit", "100"))
    token = args.get("page_token")
    if token is not None:
        try:
            decode_page_token(token)
        except InvalidPageToken as exc:
            raise BadParameter("page_token", f"page_token: {exc}; use next_page_token from a previous page") from None
    return EventQuery(
        type=event_type,
        source=_text(args, "source"),
        aggregateid=_text(args, "aggregate"),
        correlationid=_text(args, "correlation_id"),
        since=since,
        until=until,
        limit=limit,
        page_token=token,
    )


def _text(args: dict[str, str], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if not value.strip() or len(value) > MAX_TEXT:
        raise BadParameter(name, f"{name}: expected a non-empty string of at most {MAX_TEXT} characters")
    return value


def _time(args: dict[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    example = "such as 2026-11-26T08:00:00Z"
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise BadParameter(name, f"{name}: {raw[:64]!r} is not an RFC 3339 time, {example}") from None
    if when.tzinfo is None:
        raise BadParameter(name, f"{name}: {raw[:64]!r} has no time zone; RFC 3339 needs one, {example}")
    return when


def _limit(raw: str) -> int:
    try:
        limit = int(raw)
    except ValueError:
        raise BadParameter("limit", f"limit: {raw[:32]!r} is not an integer; expected 1..{MAX_PAGE}") from None
    if not 1 <= limit <= MAX_PAGE:
        raise BadParameter("limit", f"limit: {limit} is out of range; expected 1..{MAX_PAGE}")
    return limit


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_document(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "time": _iso(event.time),
        "aggregateid": event.aggregateid,
        "aggregateversion": event.aggregateversion,
        "correlationid": event.correlationid,
        "traceparent": event.traceparent,
        "data": event.data,
        "storedAt": _iso(event.stored_at),
    }


@bp.get("/events")
def list_events() -> Response:
    reader: EventStoreReader | None = current_app.extensions.get("event_store")
    if reader is None:
        return error_response(404, "domain events are off (RECEIVER_DOMAIN_EVENTS=false)")
    try:
        query = parse_query(request.args.to_dict())
    except BadParameter as exc:
        reader.rejected.labels(exc.parameter).inc()
        return error_response(400, str(exc))
    try:
        events, token = reader.find(query)
    except InvalidPageToken as exc:  # a well-formed token this store did not issue
        reader.rejected.labels("page_token").inc()
        return error_response(400, f"page_token: {exc}")
    except EventStoreUnavailable:
        response = error_response(503, "event store unavailable; retry later")
        response.headers["Retry-After"] = "5"
        return response
    return jsonify({"events": [event_document(e) for e in events], "next_page_token": token})
