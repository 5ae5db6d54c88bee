"""The consistency consumer's envelope reader agrees with full decoding on every attribute it reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest

from exporter.envelope import Envelope, read_envelope
from exporter.records import Headers
from monitoring.cloudevents import DEFAULT_MAX_BYTES, CloudEvent, decode, encode_binary, encode_structured
from simulator.platform import PlatformModel

Encoder = Callable[[CloudEvent], tuple[bytes, list[tuple[str, bytes]]]]
EVENTS = list(PlatformModel(seed=3).events(200, datetime(2026, 1, 1, tzinfo=UTC)))
GOOD = EVENTS[0]


def attributes(event: CloudEvent | Envelope) -> tuple[object, ...]:
    return tuple(getattr(event, name) for name in Envelope.__struct_fields__)


@pytest.mark.parametrize("encode", [encode_structured, encode_binary], ids=["structured", "binary"])
def test_every_attribute_the_checks_read_equals_what_full_decoding_reads(encode: Encoder) -> None:
    for event in EVENTS:
        value, headers = encode(event)
        envelope = read_envelope(value, headers)
        assert envelope is not None
        assert attributes(envelope) == attributes(decode(value, headers))


def binary_without(name: str) -> tuple[bytes, Headers]:
    value, headers = encode_binary(GOOD)
    return value, [(k, v) for k, v in headers if k != name]


def binary_with(name: str, raw: bytes) -> tuple[bytes, Headers]:
    value, headers = encode_binary(GOOD)
    return value, [(k, raw if k == name else v) for k, v in headers]


def structured_with(**changes: object) -> tuple[bytes, Headers]:
    document = msgspec.json.decode(encode_structured(GOOD)[0])
    document.update(changes)
    return msgspec.json.encode({k: v for k, v in document.items() if v is not None}), [
        ("content-type", b"application/cloudevents+json")
    ]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param((b"{not json", [("content-type", b"application/cloudevents+json")]), id="invalid JSON"),
        pytest.param((b"", []), id="empty value"),
        pytest.param((None, []), id="no value"),
        pytest.param(structured_with(id=None), id="structured without id"),
        pytest.param(structured_with(time="yesterday"), id="structured time not a timestamp"),
        pytest.param(structured_with(time="2026-01-01T00:00:00"), id="structured time without zone"),
        pytest.param(structured_with(specversion="0.3"), id="structured specversion 0.3"),
        pytest.param(structured_with(aggregateversion=-1), id="structured negative version"),
        pytest.param(binary_without("ce_source"), id="binary without ce_source"),
        pytest.param(binary_with("ce_aggregateversion", b"two"), id="binary version not a number"),
        pytest.param(binary_with("ce_id", b"\xff\xfe"), id="binary id not UTF-8"),
        pytest.param((b"x" * (DEFAULT_MAX_BYTES + 1), []), id="oversized"),
    ],
)
def test_a_record_without_a_valid_envelope_is_skipped(record: tuple[bytes | None, Headers]) -> None:
    value, headers = record
    assert read_envelope(value, headers) is None


def test_a_binary_record_is_read_without_its_payload() -> None:
    """Full decoding rejects the payload (the event consumer dead-letters it); the checks still see the event."""
    _, headers = encode_binary(GOOD)
    envelope = read_envelope(b"{not json", headers)
    assert envelope is not None
    assert attributes(envelope) == attributes(GOOD)
