"""Hypothesis settings and strategies shared by the bad-input tests.

``make test`` runs a bounded, derandomized number of examples per property
(``BAD_INPUT_EXAMPLES``, default 150); ``make reliability`` may raise it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from monitoring.cloudevents import encode_structured
from simulator.platform import PlatformModel

EXAMPLES = int(os.environ.get("BAD_INPUT_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY_TEXT = [
    "<script>alert(1)</script>",
    "<!channel> <@U123> @channel @here @everyone",
    "*bold* _it_ ~strike~ `code` <https://evil.example|click>",
    "line\r\nBcc: victim@example.com",
    "{{ 7*7 }} {% raw %} ${7*7} $title #{7*7}",
    "\x1b[31mred\x1b[0m\x01\x07",
    "\u202eevil\u200b\ufeff",
    "&amp; &lt; & < >",
    "x" * 20_000,
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
header_keys = st.one_of(
    st.sampled_from(["content-type", "ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time", "traceparent"]),
    st.text(max_size=12),
)
headers = st.lists(st.tuples(header_keys, st.one_of(st.none(), st.binary(max_size=40))), max_size=6)


def valid_envelopes(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Structured-mode envelopes of real platform events, as JSON documents to mutate."""
    start = datetime.now(UTC).replace(microsecond=0)
    out = []
    for event in PlatformModel(seed=seed).events(count, start):
        value, _ = encode_structured(event)
        out.append(msgspec.json.decode(value))
    return out[:count]  # a scenario step yields one to three events


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth
