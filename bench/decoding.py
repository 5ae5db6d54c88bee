"""Event decoding: CloudEvents envelope + typed payload validation, against bare json.loads.

Each of the three is run for about a second per round, in interleaved rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.report import Result
from bench.rounds import Samples, interleave
from monitoring.cloudevents import decode, decode_data, encode_binary, encode_structured
from simulator.platform import PlatformModel


def _rate(work: Callable[[], int], seconds: float = 1.0) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        done += work()
    return done / (time.perf_counter() - started)


def run() -> list[Result]:
    events = list(PlatformModel(seed=1).events(4000, datetime(2026, 1, 1, tzinfo=UTC)))
    structured = [encode_structured(e) for e in events]
    binary = [encode_binary(e) for e in events]

    def bare_json() -> int:
        for value, _ in structured:
            json.loads(value)
        return len(structured)

    def typed(records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> Callable[[], int]:
        def work() -> int:
            for value, headers in records:
                decode_data(decode(value, headers))
            return len(records)

        return work

    samples = Samples()
    interleave(
        [
            lambda: samples.add("json", _rate(bare_json)),
            lambda: samples.add("structured", _rate(typed(structured))),
            lambda: samples.add("binary", _rate(typed(binary))),
        ]
    )
    return [
        Result("decode structured (envelope + data)", samples["structured"], "events/s", "json.loads", samples["json"]),
        Result("decode binary (ce_ headers + data)", samples["binary"], "events/s", "json.loads", samples["json"]),
    ]
