"""Bad records against the event decoder and the exporter's processor: no crash, a reason, a dead letter."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.records import ConsumedRecord, Headers, Record
from monitoring.cloudevents import DecodeFailure, EventDecodeError, decode, decode_data, is_known_type
from tests.unit.bad_input.strategies import FUZZ, headers, json_values, nested, valid_envelopes

REASONS = {reason.value for reason in DecodeFailure} | {"time_out_of_range"}
STRUCTURED: Headers = [("content-type", b"application/cloudevents+json")]


@dataclass
class RecordingDeadLetters:
    sent: list[tuple[int, str, str]] = field(default_factory=list)

    def send(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        self.sent.append((record.offset() or 0, reason, detail))


@dataclass
class Outcome:
    accepted: list[int]
    unknown: int
    dead_letters: list[tuple[int, str, str]]
    registry: CollectorRegistry

    def failed(self, reason: str) -> float:
        return self.registry.get_sample_value("monitoring_events_failed_total", {"topic": "t", "reason": reason}) or 0


def run_batch(records: Sequence[tuple[bytes | None, Headers]]) -> Outcome:
    """Every record through a fresh processor (with business metrics and the wall clock), in order."""
    registry = CollectorRegistry()
    ticks = itertools.count()
    dead = RecordingDeadLetters()
    processor = EventProcessor(
        EventMetrics(registry),
        clock=lambda: next(ticks) * 0.001,
        business=BusinessMetrics(registry),
        dead_letters=dead,
        wall_clock=time.time,
    )
    accepted = []
    for offset, (value, hdrs) in enumerate(records):
        if processor.process(Record("t", 0, offset, value, hdrs)) is not None:
            accepted.append(offset)
    unknown = registry.get_sample_value("monitoring_events_unknown_type_total", {"topic": "t"}) or 0
    return Outcome(accepted, int(unknown), dead.sent, registry)


def envelope(**changes: Any) -> bytes:
    document = valid_envelopes(1)[0]
    for key, value in changes.items():
        if value is _DELETE:
            del document[key]
        else:
            document[key] = value
    return json.dumps(document).encode()


_DELETE = object()
VALID = envelope()
FAR_PAST = "0001-01-01T00:00:00Z"
FAR_FUTURE = "9999-12-31T23:59:59Z"

NASTY: list[tuple[str, bytes | None, Headers, str]] = [
    ("empty value", b"", STRUCTURED, "invalid_json"),
    ("no value at all (tombstone)", None, [], "invalid_json"),
    ("truncated JSON", VALID[: len(VALID) // 2], STRUCTURED, "invalid_json"),
    ("a JSON array, not an object", b"[1, 2, 3]", STRUCTURED, "wrong_type"),
    ("deep nesting (100 000 levels)", nested(100_000), STRUCTURED, "wrong_type"),
    ("deep nesting inside data", VALID[:-1] + b', "x": ' + nested(100_000) + b"}", STRUCTURED, "invalid_json"),
    ("deep nesting, binary mode", nested(100_000), [("ce_specversion", b"1.0"), ("ce_id", b"x")], "invalid_json"),
    ("a 2 MB string: over the record limit", envelope(subject="s" * 2_000_000), STRUCTURED, "oversized"),
    ("a 5 000 character id", envelope(id="i" * 5000), STRUCTURED, "wrong_type"),
    ("id is a number", envelope(id=42), STRUCTURED, "wrong_type"),
    ("time is a number", envelope(time=1700000000), STRUCTURED, "wrong_type"),
    ("time without a time zone", envelope(time="2026-01-01T00:00:00"), STRUCTURED, "wrong_type"),
    ("time in year 1", envelope(time=FAR_PAST), STRUCTURED, "time_out_of_range"),
    ("time in year 9999", envelope(time=FAR_FUTURE), STRUCTURED, "time_out_of_range"),
    ("time is not a date", envelope(time="yesterday"), STRUCTURED, "wrong_type"),
    ("NaN literal", VALID.replace(b'"specversion"', b'"x": NaN, "specversion"'), STRUCTURED, "invalid_json"),
    ("Infinity literal", VALID.replace(b'"specversion"', b'"x": Infinity, "specversion"'), STRUCTURED, "invalid_json"),
    ("an amount of 1e999 (infinity)", b"", STRUCTURED, "invalid_data"),  # filled in below
    ("negative aggregateversion", envelope(aggregateversion=-1), STRUCTURED, "wrong_type"),
    ("missing id", envelope(id=_DELETE), STRUCTURED, "missing_attribute"),
    ("missing time", envelope(time=_DELETE), STRUCTURED, "missing_attribute"),
    ("specversion 0.3", envelope(specversion="0.3"), STRUCTURED, "unsupported_specversion"),
    ("specversion is a number", envelope(specversion=1.0), STRUCTURED, "unsupported_specversion"),
    ("data is a string", envelope(data="hello"), STRUCTURED, "invalid_data"),
    ("data misses its fields", envelope(data={}), STRUCTURED, "invalid_data"),
    ("datacontenttype is XML", envelope(datacontenttype="application/xml"), STRUCTURED, "unsupported_content_type"),
    (
        "content-type text/plain without ce_ headers",
        VALID,
        [("content-type", b"text/plain")],
        "unsupported_content_type",
    ),
    ("non-UTF-8 bytes in the value", VALID.replace(b'"1.0"', b'"1.\xff"'), STRUCTURED, "invalid_encoding"),
    ("Latin-1 text", '{"id": "café"}'.encode("latin-1"), STRUCTURED, "invalid_encoding"),
    ("non-UTF-8 header", VALID, [("content-type", b"\xff\xfe")], "invalid_encoding"),
    ("binary mode, no ce_id", b"{}", [("ce_specversion", b"1.0"), ("ce_type", b"AssetCreated")], "missing_attribute"),
    (
        "binary mode, aggregateversion 'three'",
        b"{}",
        [
            ("ce_specversion", b"1.0"),
            ("ce_id", b"x"),
            ("ce_source", b"s"),
            ("ce_type", b"AssetCreated"),
            ("ce_time", b"2026-01-01T00:00:00Z"),
            ("ce_aggregateversion", b"three"),
        ],
        "wrong_type",
    ),
    ("binary mode, data not JSON", b"\x00\x01garbage", [("ce_specversion", b"1.0"), ("ce_id", b"x")], "invalid_json"),
]


def _with_infinite_amount() -> bytes:
    for document in valid_envelopes(40):
        if isinstance(document["data"], dict) and "amount" in document["data"]:
            return json.dumps(document).encode().replace(b'"amount": ', b'"amount": 1e999, "was": ')
    raise AssertionError("the simulator produced no transaction")


_INFINITE = next(i for i, case in enumerate(NASTY) if "1e999" in case[0])
NASTY[_INFINITE] = (NASTY[_INFINITE][0], _with_infinite_amount(), STRUCTURED, "invalid_data")


@pytest.mark.parametrize(("case", "value", "hdrs", "reason"), NASTY, ids=[case[0] for case in NASTY])
def test_each_nasty_record_is_dead_lettered_with_its_reason_and_its_neighbours_count(
    case: str, value: bytes | None, hdrs: Headers, reason: str
) -> None:
    before, after = valid_envelopes(2, seed=len(case))
    outcome = run_batch(
        [(json.dumps(before).encode(), STRUCTURED), (value, hdrs), (json.dumps(after).encode(), STRUCTURED)]
    )
    assert outcome.accepted == [0, 2]
    assert [(offset, why) for offset, why, _ in outcome.dead_letters] == [(1, reason)]
    assert outcome.dead_letters[0][2]  # a precise detail travels with the reason
    assert outcome.failed(reason) == 1


@FUZZ
@given(value=st.one_of(st.none(), st.binary(max_size=300)), hdrs=headers)
def test_arbitrary_bytes_and_headers_never_crash_the_decoder(value: bytes | None, hdrs: Headers) -> None:
    reasons: list[DecodeFailure] = []
    try:
        event = decode(value, hdrs)
        if is_known_type(event.type):
            decode_data(event)
    except EventDecodeError as exc:
        reasons.append(exc.reason)
        details = exc.detail
    assert reasons == [] or (reasons[0] in DecodeFailure and details)


def _mutate(document: dict[str, Any], path: list[str], value: object, delete: bool) -> dict[str, Any]:
    node: Any = document
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return document
        node = node[key]
    if isinstance(node, dict):
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return document


FIELDS = [
    ["id"],
    ["source"],
    ["type"],
    ["specversion"],
    ["time"],
    ["datacontenttype"],
    ["aggregateid"],
    ["aggregateversion"],
    ["correlationid"],
    ["traceparent"],
    ["data"],
    ["data", "amount"],
    ["data", "currency"],
    ["data", "asset_class"],
    ["data", "value"],
    ["data", "transaction_type"],
    ["data", "progress_ratio"],
    ["extra"],
]
times = st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(lambda d: d.isoformat())


@FUZZ
@given(
    index=st.integers(min_value=0, max_value=7),
    path=st.sampled_from(FIELDS),
    value=st.one_of(json_values, times, st.text(min_size=1000, max_size=3000)),
    delete=st.booleans(),
    mode=st.sampled_from(["structured", "truncated", "latin1", "binary-headers"]),
)
def test_a_mutated_event_between_valid_ones_is_counted_once_and_never_disturbs_them(
    index: int, path: list[str], value: object, delete: bool, mode: str
) -> None:
    documents = valid_envelopes(8, seed=3)
    bad = _mutate(documents[index], path, value, delete)
    raw = json.dumps(bad).encode()
    hdrs: Headers = list(STRUCTURED)
    if mode == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    elif mode == "latin1":
        raw = json.dumps(bad, ensure_ascii=False).encode("utf-8").replace(b'"1.0"', b'"\xe91.0"')
    elif mode == "binary-headers":
        hdrs = [("ce_specversion", b"1.0"), ("ce_id", str(value).encode()[:100]), ("content-type", b"application/json")]
    neighbours = [(json.dumps(d).encode(), STRUCTURED) for i, d in enumerate(documents) if i != index]
    batch = [neighbours[0], (raw, hdrs), *neighbours[1:]]
    outcome = run_batch(batch)
    assert 0 in outcome.accepted
    assert all(i in outcome.accepted for i in range(2, len(batch)))
    rejected = [offset for offset, _, _ in outcome.dead_letters]
    assert rejected in ([], [1])
    assert all(reason in REASONS for _, reason, _ in outcome.dead_letters)
    # The odd record is accounted for exactly once: counted, ignored as unknown, or dead-lettered.
    assert (1 in outcome.accepted) + outcome.unknown + len(rejected) == 1
    assert sum(Counter(r for _, r, _ in outcome.dead_letters).values()) == sum(
        outcome.failed(reason) for reason in REASONS
    )
    assert msgspec.json.decode(batch[0][0])["id"] != bad.get("id") or index == 0
