"""CloudEvents 1.0 over Kafka (the Kafka protocol binding), both content modes.

- structured mode: the whole JSON envelope is the record value
  (``content-type: application/cloudevents+json``);
- binary mode: attributes travel as ``ce_<name>`` headers, the record value is the data
  and the ``content-type`` header is its ``datacontenttype``.

In either mode a plain ``traceparent`` header stands in for a missing ``traceparent`` attribute
(the CloudEvents distributed-tracing extension; see docs/tracing.md).

``decode`` turns a Kafka record into a validated ``CloudEvent`` or raises
``EventDecodeError`` whose ``reason`` is one of a small fixed set, usable as a
metric label. ``decode_data`` then validates the payload against the catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, cast

import msgspec
from msgspec import Meta

from monitoring.catalogue import CATALOGUE, Payload

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
JSON_CONTENT_TYPE = "application/json"
DEFAULT_MAX_BYTES = 1024 * 1024
# The distributed-tracing extension: W3C trace context as the ``traceparent`` attribute and, on
# the wire, also as the plain ``traceparent`` header that OpenTelemetry's Kafka propagation uses.
TRACEPARENT_HEADER = "traceparent"
TRACEPARENT_MAX = 55

Headers = Sequence[tuple[str, bytes | str | None]]

Attribute = Annotated[str, Meta(min_length=1, max_length=1024)]


class DecodeFailure(StrEnum):
    """Why a record is not a usable event. The values are metric label values."""

    OVERSIZED = "oversized"
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    MISSING_ATTRIBUTE = "missing_attribute"
    WRONG_TYPE = "wrong_type"
    UNSUPPORTED_SPECVERSION = "unsupported_specversion"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    INVALID_DATA = "invalid_data"


class EventDecodeError(Exception):
    """A record that cannot become a valid event; ``reason`` is bounded, ``detail`` precise."""

    def __init__(self, reason: DecodeFailure, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class CloudEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """A CloudEvents 1.0 envelope with this platform's extension attributes."""

    id: Attribute
    source: Attribute
    type: Attribute
    specversion: Literal["1.0"]
    time: Annotated[datetime, Meta(tz=True)]
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    aggregateid: Attribute | None = None
    aggregateversion: Annotated[int, Meta(ge=0)] | None = None
    correlationid: Attribute | None = None
    traceparent: Annotated[str, Meta(max_length=TRACEPARENT_MAX)] | None = None
    data: msgspec.Raw = msgspec.Raw(b"null")


_ENVELOPE = msgspec.json.Decoder(CloudEvent)
_ENCODER = msgspec.json.Encoder()
_DATA_DECODERS: dict[str, msgspec.json.Decoder[Payload]] = {
    name: msgspec.json.Decoder(cls) for name, cls in CATALOGUE.items()
}

# Attributes carried as headers in binary mode; everything except ``data``.
_ATTRIBUTES = tuple(f for f in CloudEvent.__struct_fields__ if f != "data")
_HEADER_PREFIX = "ce_"
_TOO_DEEP = "JSON nested too deeply"
# The headers decoding reads, by key, and the name it files each under: ``ce_<attribute>`` as the
# attribute, the two plain headers under names no attribute has.
_CONTENT_TYPE = "content-type"
_TRACEPARENT = "traceparent-header"
_HEADER_NAMES = {
    **{_HEADER_PREFIX + name: name for name in _ATTRIBUTES},
    "content-type": _CONTENT_TYPE,
    TRACEPARENT_HEADER: _TRACEPARENT,
}


def decode(value: bytes | None, headers: Headers | None, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CloudEvent:
    """Decode one Kafka record in either content mode."""
    _check_size(value, max_bytes)
    found = _read_headers(headers or ())
    if "id" in found or "specversion" in found:
        attributes = _binary_attributes(found)
        data = value if value else b"null"
        _check_json(data)  # the value must be JSON even before it is typed
        return _binary_event(attributes, data)
    return _structured_event(value, found)


def _check_size(value: bytes | None, max_bytes: int) -> None:
    if value is not None and len(value) > max_bytes:
        raise EventDecodeError(DecodeFailure.OVERSIZED, f"record value is {len(value)} bytes, limit {max_bytes}")


def _read_headers(headers: Headers) -> dict[str, str]:
    """The headers decoding reads, filed under the attribute they carry (``ce_id`` as ``id``) and
    the two plain ones under ``_CONTENT_TYPE`` and ``_TRACEPARENT``.

    As the Kafka binding reads headers: keys are case-insensitive, the last of a repeated key wins,
    a header without a value is absent. Every value, read or not, must be UTF-8.
    """
    found: dict[str, str] = {}
    names = _HEADER_NAMES
    for key, raw in headers:
        if raw is None:
            continue
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise EventDecodeError(DecodeFailure.INVALID_ENCODING, f"header {key!r} is not UTF-8") from None
        name = names.get(key)  # the exact spelling first: producers write them lower-case
        if name is None:
            name = names.get(key.lower())
            if name is None:
                continue
        found[name] = text
    return found


def _structured_event(value: bytes | None, found: dict[str, str]) -> CloudEvent:
    content_type = found.get(_CONTENT_TYPE)
    if content_type is not None and not content_type.startswith(STRUCTURED_CONTENT_TYPE):
        raise EventDecodeError(
            DecodeFailure.UNSUPPORTED_CONTENT_TYPE,
            f"content-type {content_type!r} without ce_ headers is neither structured nor binary mode",
        )
    event = _decode_structured(value)
    if event.traceparent is None:
        traceparent = found.get(_TRACEPARENT)
        if traceparent is not None and len(traceparent) <= TRACEPARENT_MAX:
            return msgspec.structs.replace(event, traceparent=traceparent)
    return event


def _decode_structured(value: bytes | None) -> CloudEvent:
    if not value:
        raise EventDecodeError(DecodeFailure.INVALID_JSON, "empty record value")
    try:
        event = _ENVELOPE.decode(value)
    except msgspec.ValidationError as exc:
        raise _classify(str(exc)) from None
    except msgspec.DecodeError as exc:
        reason = DecodeFailure.INVALID_ENCODING if "UTF-8" in str(exc) else DecodeFailure.INVALID_JSON
        raise EventDecodeError(reason, str(exc)) from None
    except UnicodeDecodeError as exc:  # msgspec raises it for invalid UTF-8 inside a string
        raise EventDecodeError(DecodeFailure.INVALID_ENCODING, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise EventDecodeError(DecodeFailure.INVALID_JSON, _TOO_DEEP) from None
    if event.datacontenttype not in (None, JSON_CONTENT_TYPE):
        raise EventDecodeError(DecodeFailure.UNSUPPORTED_CONTENT_TYPE, f"datacontenttype {event.datacontenttype!r}")
    return event


def _binary_attributes(found: dict[str, str]) -> dict[str, object]:
    """The envelope's attributes from the headers ``_read_headers`` found (consumed)."""
    content_type = found.pop(_CONTENT_TYPE, None)
    traceparent = found.pop(_TRACEPARENT, None)
    attributes = cast(dict[str, object], found)  # only attributes are left in it, and it is ours
    if traceparent is not None and "traceparent" not in attributes:
        attributes["traceparent"] = traceparent  # the distributed-tracing extension's header
    if content_type is not None:
        attributes["datacontenttype"] = content_type
        if content_type != JSON_CONTENT_TYPE and not content_type.startswith(JSON_CONTENT_TYPE + ";"):
            raise EventDecodeError(DecodeFailure.UNSUPPORTED_CONTENT_TYPE, f"content-type {content_type!r}")
    version = attributes.get("aggregateversion")
    if isinstance(version, str):
        if not version.isdecimal():  # what ``int`` reads: not "²", which ``isdigit`` admits
            raise EventDecodeError(
                DecodeFailure.WRONG_TYPE, f"Expected `int`, got {version!r} - at `ce_aggregateversion`"
            )
        attributes["aggregateversion"] = int(version)
    return attributes


def _check_json(data: bytes) -> None:
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(DecodeFailure.INVALID_JSON, f"data: {exc}") from None
    except UnicodeDecodeError as exc:
        raise EventDecodeError(DecodeFailure.INVALID_ENCODING, f"data is not UTF-8: {exc.reason}") from None
    except RecursionError:
        raise EventDecodeError(DecodeFailure.INVALID_JSON, f"data: {_TOO_DEEP}") from None


def _binary_event(attributes: dict[str, object], data: bytes) -> CloudEvent:
    attributes["data"] = msgspec.Raw(data)
    try:
        return msgspec.convert(attributes, CloudEvent, strict=False)
    except msgspec.ValidationError:
        pass
    # The first invalid attribute in the envelope's order is the one reported, whatever the headers' order.
    ordered = {name: attributes[name] for name in _ATTRIBUTES if name in attributes}
    ordered["data"] = attributes["data"]
    try:
        msgspec.convert(ordered, CloudEvent, strict=False)
    except msgspec.ValidationError as exc:
        raise _classify(str(exc).replace("$.", "ce_")) from None
    raise AssertionError("an envelope valid in one order and not in another")  # pragma: no cover


def _classify(message: str) -> EventDecodeError:
    if "missing required field" in message:
        return EventDecodeError(DecodeFailure.MISSING_ATTRIBUTE, message)
    if "specversion" in message:
        return EventDecodeError(DecodeFailure.UNSUPPORTED_SPECVERSION, message)
    return EventDecodeError(DecodeFailure.WRONG_TYPE, message)


def is_known_type(event_type: str) -> bool:
    return event_type in _DATA_DECODERS


def decode_data(event: CloudEvent) -> Payload:
    """Validate ``event.data`` against the catalogue entry for ``event.type``.

    Raises ``KeyError`` for a type that is not in the catalogue (callers count and
    ignore those) and ``EventDecodeError(INVALID_DATA)`` for a payload of the wrong shape.
    """
    decoder = _DATA_DECODERS[event.type]
    try:
        return decoder.decode(event.data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(DecodeFailure.INVALID_DATA, f"{event.type}: {exc}") from None
    except (UnicodeDecodeError, RecursionError) as exc:  # unreachable after ``decode``, which checks both
        raise EventDecodeError(DecodeFailure.INVALID_DATA, f"{event.type}: {type(exc).__name__}") from None


# --- encoding, for producers (the simulator, the monitoring stack's own events) ---


def encode_structured(event: CloudEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Value and headers of a structured-mode record."""
    return _ENCODER.encode(event), [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


def encode_binary(event: CloudEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Value and headers of a binary-mode record."""
    headers: list[tuple[str, bytes]] = [("content-type", (event.datacontenttype or JSON_CONTENT_TYPE).encode())]
    for name in _ATTRIBUTES:
        if name == "datacontenttype":
            continue
        value = getattr(event, name)
        if value is None:
            continue
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        headers.append((_HEADER_PREFIX + name, text.encode()))
    return bytes(event.data), headers


def new_event(
    *,
    id: str,
    type: str,
    source: str,
    time: datetime,
    data: Payload,
    aggregateid: str | None = None,
    aggregateversion: int | None = None,
    correlationid: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Build an envelope around a catalogue payload."""
    return CloudEvent(
        id=id,
        source=source,
        type=type,
        specversion="1.0",
        time=time,
        datacontenttype=JSON_CONTENT_TYPE,
        aggregateid=aggregateid,
        aggregateversion=aggregateversion,
        correlationid=correlationid,
        traceparent=traceparent,
        data=msgspec.Raw(_ENCODER.encode(data)),
    )
