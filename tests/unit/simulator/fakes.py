"""Fakes for driving the simulator in tests: a clock that moves when slept on, a sink that keeps records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.generator import OutRecord

START = 1_800_000_000.0
TICK = 0.01


class FakeClock:
    """Time moves only when the code under test sleeps (at least one tick per sleep).

    ``on_sleep`` callbacks run after each sleep with the elapsed seconds, so a test can act
    "while it runs" at a precise time.
    """

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.now = START
        self._on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, TICK)
        if self._on_sleep is not None:
            self._on_sleep(self.now - START)


@dataclass
class MemorySink:
    records: list[OutRecord] = field(default_factory=list)
    flushed: int = 0

    def send(self, record: OutRecord) -> None:
        self.records.append(record)

    def flush(self, timeout: float) -> int:
        self.flushed += 1
        return 0
