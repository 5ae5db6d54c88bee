from __future__ import annotations

import itertools

from receiver.delivery.outbox import Backoff


def test_backoff_doubles_with_jitter_between_half_and_full_and_is_capped() -> None:
    low, high = Backoff(1.0, 60.0, rand=lambda: 0.0), Backoff(1.0, 60.0, rand=lambda: 0.999999)
    assert [low.delay(n, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [round(high.delay(n, None), 3) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert high.delay(20, None) <= 60.0


def test_jitter_spreads_delays_of_the_same_attempt() -> None:
    values = itertools.cycle([0.1, 0.5, 0.9])
    backoff = Backoff(10.0, 600.0, rand=lambda: next(values))
    assert len({backoff.delay(3, None) for _ in range(3)}) == 3


def test_a_retry_after_longer_than_the_backoff_wins() -> None:
    backoff = Backoff(1.0, 60.0, rand=lambda: 0.5)
    assert backoff.delay(1, 90.0) == 90.0
    assert backoff.delay(1, 0.1) == 0.75
