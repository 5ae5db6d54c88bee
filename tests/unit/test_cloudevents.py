from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from monitoring import catalogue as c
from monitoring.cloudevents import (
    CloudEvent,
    DecodeFailure,
    EventDecodeError,
    decode,
    decode_data,
    encode_binary,
    encode_structured,
    is_known_type,
    new_event,
)

COMPLETED = c.TransactionCompleted(
    transaction_id="t-1",
    portfolio_id="p-1",
    transaction_type=c.TransactionType.BUY,
    amount=1250.5,
    currency="EUR",
    processing_seconds=0.42,
)


def completed_event() -> CloudEvent:
    return new_event(
        id="0b9a",
        type="TransactionCompleted",
        source="transaction-service",
        time=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
        data=COMPLETED,
        aggregateid="t-1",
        aggregateversion=3,
        correlationid="corr-1",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


@pytest.mark.parametrize("encode", [encode_structured, encode_binary], ids=["structured", "binary"])
def test_both_content_modes_round_trip(encode: object) -> None:
    event = completed_event()
    value, headers = encode(event)  # type: ignore[operator]
    decoded = decode(value, headers)
    assert decoded == event
    assert decode_data(decoded) == COMPLETED


def test_binary_mode_carries_attributes_in_ce_headers() -> None:
    value, headers = encode_binary(completed_event())
    header_map = dict(headers)
    assert header_map["ce_type"] == b"TransactionCompleted"
    assert header_map["ce_aggregateversion"] == b"3"
    assert header_map["content-type"] == b"application/json"
    assert json.loads(value)["amount"] == 1250.5


def envelope(**overrides: object) -> bytes:
    base: dict[str, object] = {
        "id": "e1",
        "source": "asset-service",
        "type": "AssetCreated",
        "specversion": "1.0",
        "time": "2026-11-26T08:00:00Z",
        "data": {},
    }
    base.update(overrides)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("value", "headers", "reason", "detail"),
    [
        (b"{", None, DecodeFailure.INVALID_JSON, "truncated"),
        (b"", None, DecodeFailure.INVALID_JSON, "empty"),
        (b"\xff\xfe\x00", None, DecodeFailure.INVALID_JSON, "malformed"),
        (envelope(id=...), None, DecodeFailure.MISSING_ATTRIBUTE, "`id`"),
        (envelope(time=...), None, DecodeFailure.MISSING_ATTRIBUTE, "`time`"),
        (envelope(id=7), None, DecodeFailure.WRONG_TYPE, "$.id"),
        (envelope(aggregateversion="three"), None, DecodeFailure.WRONG_TYPE, "$.aggregateversion"),
        (envelope(aggregateversion=-1), None, DecodeFailure.WRONG_TYPE, "$.aggregateversion"),
        (envelope(time="2026-11-26T08:00:00"), None, DecodeFailure.WRONG_TYPE, "timezone"),
        (envelope(time="yesterday"), None, DecodeFailure.WRONG_TYPE, "$.time"),
        (envelope(specversion="0.3"), None, DecodeFailure.UNSUPPORTED_SPECVERSION, "0.3"),
        (envelope(id=""), None, DecodeFailure.WRONG_TYPE, "$.id"),
        (envelope(datacontenttype="application/xml"), None, DecodeFailure.UNSUPPORTED_CONTENT_TYPE, "xml"),
        (b"{}", [("content-type", b"text/plain")], DecodeFailure.UNSUPPORTED_CONTENT_TYPE, "text/plain"),
        (b"x" * 2_000_000, None, DecodeFailure.OVERSIZED, "2000000 bytes"),
        (b"{}", [("ce_id", b"\xff")], DecodeFailure.INVALID_ENCODING, "ce_id"),
        (b"{}", [("ce_id", b"1"), ("ce_specversion", b"1.0")], DecodeFailure.MISSING_ATTRIBUTE, "`source`"),
        (
            b"not json",
            [
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_type", b"AssetCreated"),
                ("ce_specversion", b"1.0"),
                ("ce_time", b"2026-11-26T08:00:00Z"),
            ],
            DecodeFailure.INVALID_JSON,
            "data",
        ),
        (
            b"{}",
            [
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_type", b"AssetCreated"),
                ("ce_specversion", b"1.0"),
                ("ce_time", b"2026-11-26T08:00:00Z"),
                ("ce_aggregateversion", b"x"),
            ],
            DecodeFailure.WRONG_TYPE,
            "ce_aggregateversion",
        ),
    ],
)
def test_bad_records_fail_with_a_bounded_reason_and_a_precise_detail(
    value: bytes, headers: list[tuple[str, bytes]] | None, reason: DecodeFailure, detail: str
) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode(value, headers)
    assert info.value.reason is reason
    assert detail in info.value.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"asset_id": "a"}, "missing required field"),
        ({"asset_id": "a", "asset_class": "tulips", "name": "n", "value": 1, "currency": "EUR"}, "asset_class"),
        ({"asset_id": "a", "asset_class": "bond", "name": "n", "value": -5, "currency": "EUR"}, "$.value"),
        ({"asset_id": "a", "asset_class": "bond", "name": "n", "value": 1, "currency": "euro"}, "$.currency"),
    ],
)
def test_a_payload_of_the_wrong_shape_is_invalid_data(data: dict[str, object], detail: str) -> None:
    event = decode(envelope(data=data), None)
    with pytest.raises(EventDecodeError) as info:
        decode_data(event)
    assert info.value.reason is DecodeFailure.INVALID_DATA
    assert detail in info.value.detail


def test_unknown_types_decode_as_envelopes_and_are_reported_unknown() -> None:
    event = decode(envelope(type="AssetTeleported"), None)
    assert not is_known_type(event.type)
    assert is_known_type("AssetCreated")


def test_extra_attributes_and_payload_fields_are_tolerated() -> None:
    data = {"asset_id": "a", "asset_class": "bond", "name": "n", "value": 1, "currency": "EUR", "isin": "X"}
    event = decode(envelope(data=data, partitionkey="k"), None)
    assert decode_data(event) == c.AssetCreated(
        asset_id="a", asset_class=c.AssetClass.BOND, name="n", value=1, currency="EUR"
    )


BINARY_HEADERS = [
    ("ce_id", b"1"),
    ("ce_source", b"s"),
    ("ce_type", b"AssetCreated"),
    ("ce_specversion", b"1.0"),
    ("ce_time", b"2026-11-26T08:00:00Z"),
]


@pytest.mark.parametrize(
    "version", [b"\xc2\xb2", b"+3", b" 3", b"3.0"], ids=["superscript two", "sign", "space", "point"]
)
def test_a_binary_aggregateversion_that_is_not_decimal_digits_is_the_wrong_type(version: bytes) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode(b"{}", [*BINARY_HEADERS, ("ce_aggregateversion", version)])
    assert info.value.reason is DecodeFailure.WRONG_TYPE
    assert "ce_aggregateversion" in info.value.detail


@pytest.mark.parametrize("reverse", [False, True], ids=["headers in order", "headers reversed"])
def test_the_first_bad_attribute_in_the_envelopes_order_is_reported_whatever_the_headers_order(
    reverse: bool,
) -> None:
    headers = [(k, b"0.3" if k == "ce_specversion" else b"" if k == "ce_id" else v) for k, v in BINARY_HEADERS]
    with pytest.raises(EventDecodeError) as info:
        decode(b"{}", headers[::-1] if reverse else headers)
    assert info.value.reason is DecodeFailure.WRONG_TYPE  # ``id`` comes before ``specversion``
    assert "ce_id" in info.value.detail


def test_binary_headers_are_read_whatever_their_case_and_the_last_of_a_repeated_one_wins() -> None:
    value, headers = encode_binary(completed_event())
    shouted = [(k.upper(), v) for k, v in headers] + [("ce_correlationid", b"corr-2"), ("ce_subject", None)]
    assert decode(value, shouted) == msgspec.structs.replace(completed_event(), correlationid="corr-2")
