"""A token bucket for the exporter's processing spans: tracing's cost on the hot path stays bounded.

The exporter follows the producer's sampling decision, so its span rate is the platform's
sampled event rate, which it does not control. A span costs tens of microseconds with the SDK
(and as much again to encode for export), an untraced event about ten: beyond ``rate`` spans
per second (bursts up to ``rate``), sampled events are processed untraced.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SpanBudget:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = float(rate)
        self._tokens = float(rate)
        self._clock = clock
        self._last = clock()

    def take(self) -> bool:
        """Whether one more span fits in the budget now (and spend it)."""
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
