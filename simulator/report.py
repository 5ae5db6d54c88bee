"""The ground truth: exactly what a simulation produced, for comparison with an exporter's metrics.

``GroundTruth`` is filled by the generator as records are handed to the producer and
rendered as JSON by ``as_dict()``. Counters only count records the producer accepted;
``delivery_failures`` counts those Kafka later refused.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

# Bounds of the histogram buckets reported for processing and follow-up delays (seconds).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# How many example ids are kept per injected anomaly kind.
MAX_EXAMPLES = 1000


@dataclass
class Distribution:
    """count, sum and cumulative bucket counts, as a Prometheus histogram would hold them."""

    count: int = 0
    total: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.buckets[i] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "sum": round(self.total, 6),
            "buckets": {str(b): n for b, n in zip(BUCKETS, self.buckets, strict=True)} | {"+Inf": self.count},
        }


@dataclass
class GroundTruth:
    events_by_type: Counter[str] = field(default_factory=Counter)
    records_by_topic: Counter[str] = field(default_factory=Counter)
    transactions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    amounts: defaultdict[str, defaultdict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    processing_seconds: Distribution = field(default_factory=Distribution)
    followup_delay_seconds: Distribution = field(default_factory=Distribution)
    injected: Counter[str] = field(default_factory=Counter)
    examples: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    delivery_failures: int = 0
    content_modes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def event(self, event_type: str, topic: str, mode: str) -> None:
        with self._lock:
            self.events_by_type[event_type] += 1
            self.records_by_topic[topic] += 1
            self.content_modes[mode] += 1

    def record(self, topic: str) -> None:
        """A record that is not a new event (a duplicate copy or a malformed record)."""
        with self._lock:
            self.records_by_topic[topic] += 1

    def transaction(self, transaction_type: str, status: str, currency: str, amount: float) -> None:
        with self._lock:
            self.transactions[transaction_type][status] += 1
            self.amounts[status][currency] += amount

    def processing(self, seconds: float) -> None:
        with self._lock:
            self.processing_seconds.observe(seconds)

    def followup(self, delay: float) -> None:
        with self._lock:
            self.followup_delay_seconds.observe(delay)

    def inject(self, kind: str, example: str) -> None:
        with self._lock:
            self.injected[kind] += 1
            if len(self.examples[kind]) < MAX_EXAMPLES:
                self.examples[kind].append(example)

    def delivery_failed(self) -> None:
        with self._lock:
            self.delivery_failures += 1

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events_by_type": dict(sorted(self.events_by_type.items())),
                "events_total": sum(self.events_by_type.values()),
                "records_by_topic": dict(sorted(self.records_by_topic.items())),
                "content_modes": dict(sorted(self.content_modes.items())),
                "transactions_by_type_and_status": {
                    k: dict(sorted(v.items())) for k, v in sorted(self.transactions.items())
                },
                "amount_sum_by_status_and_currency": {
                    status: {cur: round(total, 2) for cur, total in sorted(by_cur.items())}
                    for status, by_cur in sorted(self.amounts.items())
                },
                "processing_seconds": self.processing_seconds.as_dict(),
                "followup_delay_seconds": self.followup_delay_seconds.as_dict(),
                "injected": dict(sorted(self.injected.items())),
                "injected_examples": {k: list(v) for k, v in sorted(self.examples.items())},
                "delivery_failures": self.delivery_failures,
            }
