"""Interleaved rounds: every figure of a bench line measured at least three times, alternating with its baseline.

The machine is shared, so a single measurement cannot tell a regression from a neighbour's
load. Each round runs every measurement of a benchmark once, subject and baseline side by side,
in an order that reverses every round (A B C, C B A, A B C, ...) so that a drift in the
machine's load falls on both. A line reports the median over the rounds and the spread
(max - min) / median; a spread above ``SPREAD_LIMIT`` is flagged in the table and the JSON.
The 1-minute load average when each value was taken is kept with it.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ROUNDS = 3
SPREAD_LIMIT = 0.15


@dataclass(frozen=True)
class Figures:
    """One quantity as measured in each round.

    Its ``value`` is the median over the rounds, except for a percentile of samples that several
    rounds collect (alert latencies): there it is the percentile over all of them (``pooled``),
    which a median of per-round percentiles of a few samples each would understate.
    """

    values: tuple[float, ...]
    loads: tuple[float, ...] = ()  # 1-minute load average when each value was taken
    fixed: bool = False  # a constant (a goal, a computed budget), not a measurement
    pooled_value: float | None = None

    @classmethod
    def constant(cls, value: float) -> Figures:
        return cls((value,), fixed=True)

    @classmethod
    def once(cls, value: float) -> Figures:
        """A quantity measured once: a size that does not vary from round to round (bytes per row)."""
        return cls((value,), (round(os.getloadavg()[0], 2),))

    @classmethod
    def pooled(cls, rounds: Sequence[Sequence[float]], statistic: Callable[[Sequence[float]], float]) -> Figures:
        """``statistic`` of every round's samples, and of all of them together as the value."""
        everything = [sample for samples in rounds for sample in samples]
        return cls(tuple(statistic(samples) for samples in rounds), pooled_value=statistic(everything))

    @property
    def value(self) -> float:
        return self.pooled_value if self.pooled_value is not None else statistics.median(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / value over the rounds; 0 for a constant."""
        value = self.value
        return (max(self.values) - min(self.values)) / abs(value) if value else 0.0

    def scaled(self, factor: float) -> Figures:
        pooled = None if self.pooled_value is None else self.pooled_value * factor
        return Figures(tuple(v * factor for v in self.values), self.loads, self.fixed, pooled)

    def inverse(self) -> Figures:
        """1 / each value: a time as a rate."""
        pooled = None if self.pooled_value is None else 1.0 / self.pooled_value
        return Figures(tuple(1.0 / v for v in self.values), self.loads, self.fixed, pooled)


@dataclass
class Samples:
    """Figures collected round by round, by name."""

    _values: dict[str, list[float]] = field(default_factory=dict)
    _loads: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self._values.setdefault(name, []).append(value)
        self._loads.setdefault(name, []).append(round(os.getloadavg()[0], 2))

    def count(self, name: str) -> int:
        return len(self._values.get(name, ()))

    def __getitem__(self, name: str) -> Figures:
        return Figures(tuple(self._values[name]), tuple(self._loads[name]))


def interleave(steps: Sequence[Callable[[], None]], rounds: int = ROUNDS) -> None:
    """Run every step once per round, reversing the order every other round."""
    if rounds < ROUNDS:
        raise ValueError(f"at least {ROUNDS} rounds")
    for number in range(rounds):
        for step in steps if number % 2 == 0 else list(reversed(steps)):
            step()
