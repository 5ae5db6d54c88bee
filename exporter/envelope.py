"""The envelope attributes the consistency checks read, from a record in either content mode.

The consistency consumer reads every event a second time, in its own consumer group, and its
checks use seven attributes: id, source, type, time, aggregateid, aggregateversion and
correlationid. Validating the rest (the payload's JSON, its schema, the content type) is the
event consumer's job, which counts and dead-letters what fails (``monitoring.cloudevents``). Here
a record whose seven attributes are missing or malformed is skipped, as full decoding skipped it,
and neither the payload nor the other headers are read: 1.2 µs per structured-mode record and
3.0 µs per binary-mode one, against 2.5 and 6.7 µs for full decoding (docs/metrics.md,
"Profile of the whole process").

Content modes follow the CloudEvents Kafka binding as ``monitoring.cloudevents`` reads it: a
record with a ``ce_id`` or ``ce_specversion`` header is in binary mode, any other is structured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from exporter.records import Headers
from monitoring.cloudevents import DEFAULT_MAX_BYTES, Attribute


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What the consistency checks know of an event."""

    id: Attribute
    source: Attribute
    type: Attribute
    specversion: Literal["1.0"]
    time: Annotated[datetime, Meta(tz=True)]
    aggregateid: Attribute | None = None
    aggregateversion: Annotated[int, Meta(ge=0)] | None = None
    correlationid: Attribute | None = None


_STRUCTURED = msgspec.json.Decoder(Envelope)  # unknown fields, ``data`` among them, are skipped unread
# The header keys read, to their attribute; the other headers of the binding, to "" (skipped without
# lower-casing their key first).
_BINARY_HEADERS = {
    **{key: "" for key in ("content-type", "traceparent", "ce_datacontenttype", "ce_dataschema", "ce_subject")},
    "ce_traceparent": "",
    **{f"ce_{name}": name for name in Envelope.__struct_fields__},
}


def read_envelope(value: bytes | None, headers: Headers | None) -> Envelope | None:
    """The envelope of a record, or None when it has no valid one."""
    if value is not None and len(value) > DEFAULT_MAX_BYTES:
        return None
    attributes: dict[str, str] = {}
    names = _BINARY_HEADERS
    try:
        for key, raw in headers or ():
            name = names.get(key)  # the exact spelling first: producers write them lower-case
            if name is None:
                name = names.get(key.lower())
            if name and raw is not None:
                attributes[name] = raw.decode() if isinstance(raw, bytes) else raw
        if "id" in attributes or "specversion" in attributes:
            return msgspec.convert(attributes, Envelope, strict=False)
        return _STRUCTURED.decode(value) if value else None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # ValidationError is a DecodeError
        return None
