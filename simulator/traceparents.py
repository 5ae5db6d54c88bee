"""Deterministic W3C trace context for simulated events, so the demo has traces to follow.

A platform flow (events sharing a correlation id, such as a completed transaction and the
portfolio update it causes) is one trace; each event is its own span in it. Ids are hashes
of the correlation and event ids, so one seed always gives the same traces, and a fixed share
of flows (``SAMPLE_RATIO``) is marked sampled, as a platform with head sampling would.
"""

from __future__ import annotations

from hashlib import blake2b

SAMPLE_RATIO = 0.05
_SAMPLE_SCALE = 10_000


def traceparent_for(correlation: str, event_id: str, sample_ratio: float = SAMPLE_RATIO) -> str:
    trace_id = int.from_bytes(blake2b(correlation.encode(), digest_size=16).digest()) or 1
    span_id = int.from_bytes(blake2b(event_id.encode(), digest_size=8).digest()) or 1
    sampled = trace_id % _SAMPLE_SCALE < sample_ratio * _SAMPLE_SCALE
    return f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"
