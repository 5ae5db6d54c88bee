"""Admission control and the database breaker: bounded intake, fail fast while the database is down."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from monitoring.settings import ConfigError
from receiver.config.settings import ReceiverConfig
from receiver.intake.admission import Admission, Overloaded, RefusalSummary
from receiver.store.breaker import Breaker
from tests.unit.receiver.conftest import build_receiver
from tests.unit.receiver.fakes import FakeClock, alert, body

URL = "/api/v1/alerts/alertmanager"


@contextmanager
def hold(admission: Admission, count: int) -> Iterator[threading.Event]:
    """Occupy ``count`` slots from other threads until the yielded event is set or the block ends."""
    release, held = threading.Event(), threading.Semaphore(0)

    def occupy() -> None:
        with admission.slot():
            held.release()
            release.wait(10)

    threads = [threading.Thread(target=occupy) for _ in range(count)]
    for t in threads:
        t.start()
    for _ in threads:
        assert held.acquire(timeout=10)
    try:
        yield release
    finally:
        release.set()
        for t in threads:
            t.join(10)


def test_slots_up_to_the_limit_are_granted_and_the_next_is_refused_once_the_queue_is_full() -> None:
    admission = Admission(limit=2, queue=0, wait=5.0)
    with ExitStack() as stack:
        stack.enter_context(admission.slot())
        stack.enter_context(admission.slot())
        with pytest.raises(Overloaded, match="all 2 intake slots busy and 0 webhooks waiting"), admission.slot():
            pass  # refused at once: the queue holds none, so the 5 s wait never starts
    with admission.slot():  # released on exit, usable again
        pass


def test_a_queued_caller_gets_the_slot_released_while_it_waits() -> None:
    admission = Admission(limit=1, queue=1, wait=10.0)
    granted = threading.Event()

    def wait_for_slot() -> None:
        with admission.slot():
            granted.set()

    with hold(admission, 1) as release:
        waiter = threading.Thread(target=wait_for_slot)
        waiter.start()
        release.set()
        waiter.join(10)
    assert granted.is_set()


def test_a_queued_caller_whose_wait_runs_out_is_refused() -> None:
    admission = Admission(limit=1, queue=1, wait=0.05)
    with hold(admission, 1), pytest.raises(Overloaded, match=r"no intake slot free within 0\.05 s"), admission.slot():
        pass


@pytest.mark.parametrize(("limit", "queue"), [(0, 1), (1, -1)])
def test_admission_rejects_impossible_bounds(limit: int, queue: int) -> None:
    with pytest.raises(ValueError, match="admission needs limit >= 1 and queue >= 0"):
        Admission(limit, queue, 1.0)


def test_an_overloaded_webhook_gets_503_with_retry_after_is_counted_and_stores_nothing(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_MAX_INFLIGHT": "1", "RECEIVER_ADMISSION_WAIT": "50ms"})
    with hold(r.app.extensions["admission"], 1):
        refused = r.client.post(URL, data=body(alert("Refused")), content_type="application/json")
    accepted = r.client.post(URL, data=body(alert("Accepted")), content_type="application/json")
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert refused.json == {"error": "receiver overloaded; retry later"}
    assert accepted.status_code == 200
    assert r.metric("receiver_webhooks_rejected_total", reason="overload") == 1
    stored = r.client.get("/api/v1/alerts").get_json()
    assert [a["alertname"] for a in stored["alerts"]] == ["Accepted"]


@pytest.mark.parametrize(
    ("threads", "inflight", "accepted"),
    [("12", "4", True), ("9", "4", True), ("8", "4", False), ("2", "1", False), ("3", "1", True)],
)
def test_request_threads_must_exceed_twice_the_intake_slots(threads: str, inflight: str, accepted: bool) -> None:
    env = {"RECEIVER_THREADS": threads, "RECEIVER_MAX_INFLIGHT": inflight}
    if accepted:
        config = ReceiverConfig.from_environ(env)
        assert (config.threads, config.max_inflight) == (int(threads), int(inflight))
    else:
        with pytest.raises(ConfigError, match=f"RECEIVER_THREADS={threads} must exceed twice RECEIVER_MAX_INFLIGHT"):
            ReceiverConfig.from_environ(env)


def test_the_breaker_fails_fast_after_a_failure_then_lets_one_probe_through_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = Breaker(clock, cooldown=1.0)
    assert breaker.allow()
    assert breaker.down_for() is None
    breaker.failed()
    clock.advance(0.5)
    assert not breaker.allow()
    assert breaker.down_for() == 0.5
    clock.advance(0.6)
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # one at a time
    breaker.failed()  # the probe failed: another cooldown
    assert not breaker.allow()
    clock.advance(1.0)
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.allow()
    assert breaker.allow()  # closed: no probing any more
    assert breaker.down_for() is None


def test_a_probe_released_without_a_verdict_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = Breaker(clock, cooldown=1.0)
    breaker.failed()
    clock.advance(1.0)
    assert breaker.allow()
    breaker.released()
    assert breaker.allow()


def test_refusals_are_reported_at_once_then_summed_once_per_interval() -> None:
    clock = FakeClock()
    summary = RefusalSummary(clock, interval=10.0)
    reported = [summary.add()]
    for _ in range(49):
        clock.advance(0.1)
        reported.append(summary.add())
    clock.advance(6.0)  # 10.9 s after the first line
    reported.append(summary.add())
    assert reported[0] == 1
    assert reported[1:-1] == [0] * 49
    assert reported[-1] == 50  # the 49 held back and this one
