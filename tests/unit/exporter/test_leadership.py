"""The single-active consistency consumer: starts on acquiring the lock, stops when the lock is lost."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Gauge

from exporter.leadership import SingleActive
from tests.integration.exporter.stream import wait_for


class SwitchableLock:
    def __init__(self, available: bool) -> None:
        self.available = available
        self.mine = False
        self.attempts = 0
        self.released = threading.Event()

    def try_acquire(self) -> bool:
        self.attempts += 1
        self.mine = self.available
        return self.mine

    def held(self) -> bool:
        return self.mine and self.available

    def release(self) -> None:
        self.mine = False
        self.released.set()


class Worker:
    def __init__(self) -> None:
        self.running = False

    def start(self) -> None:
        self.running = True

    def stop(self, timeout: float = 30.0) -> None:
        self.running = False


def test_the_worker_runs_only_while_this_instance_holds_the_lock() -> None:
    lock = SwitchableLock(available=False)
    workers: list[Worker] = []

    def factory() -> Worker:
        workers.append(Worker())
        return workers[-1]

    registry = CollectorRegistry()
    active = Gauge("active", "a", registry=registry)
    leader = SingleActive(lock, factory, active, interval=0.02)
    leader.start()
    try:
        assert wait_for(lambda: lock.attempts >= 2, 5, 0.02)
        assert workers == []  # another instance holds the lock
        lock.available = True
        assert wait_for(lambda: len(workers) == 1 and workers[0].running, 5, 0.02)
        assert registry.get_sample_value("active") == 1
        lock.available = False  # the session died: step down
        assert wait_for(lambda: not workers[0].running, 5, 0.02)
        assert registry.get_sample_value("active") == 0
        lock.available = True
        assert wait_for(lambda: len(workers) == 2 and workers[1].running, 5, 0.02)
    finally:
        leader.stop()
    assert not workers[1].running
    assert lock.released.is_set()
