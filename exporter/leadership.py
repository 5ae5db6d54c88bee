"""One active consistency consumer among all exporter instances.

A cause and its follow-up travel on different topics with different keys, so with several
exporter instances in one consumer group they usually land on different instances. The
consistency checks therefore run in a separate consumer group (``<group>.consistency``)
that only one instance at a time joins: the holder of a PostgreSQL session-level advisory
lock. When the holder dies, PostgreSQL drops its session and its lock, and another instance
takes over from the consistency group's committed offsets. Without POSTGRES_URI there is no
coordination and every instance is active: run one instance, or set EXPORTER_CONSISTENCY=off
on the others.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from typing import Protocol

import psycopg
import structlog
from prometheus_client import Gauge

log = structlog.get_logger(__name__)


class Lock(Protocol):
    def try_acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class NoLock:
    """Single-instance deployments: always the leader."""

    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        return None


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a dedicated connection; the lock lives as long as the session."""

    def __init__(self, uri: str, name: str, connect_timeout: int = 5) -> None:
        self._uri = uri
        self._key = zlib.crc32(name.encode())  # fits in PostgreSQL's bigint key
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._uri, autocommit=True, connect_timeout=self._connect_timeout)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("leader_lock_unavailable", error=str(exc))
            self._drop()
            return False
        return bool(row and row[0])

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class Startable(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 30.0) -> None: ...


class SingleActive:
    """Owns a thread that becomes leader when it can and runs ``factory()``'s worker while it is."""

    def __init__(
        self,
        lock: Lock,
        factory: Callable[[], Startable],
        active: Gauge,
        interval: float = 2.0,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._on_error = on_error
        self._lock = lock
        self._factory = factory
        self._active = active
        self._interval = interval
        self._worker: Startable | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consistency-leader", daemon=True)
        active.set(0)

    @property
    def is_active(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._worker is None and self._lock.try_acquire():
                    log.info("consistency_leader_acquired")
                    self._worker = self._factory()
                    self._worker.start()
                    self._active.set(1)
                elif self._worker is not None and not self._lock.held():
                    log.warning("consistency_leader_lost")
                    self._step_down()
            except Exception:  # the loop's edge: report and try again next interval
                log.exception("consistency_leader_error")
                self._on_error()
            self._stopping.wait(self._interval)

    def _step_down(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self._active.set(0)

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)
        self._step_down()
        self._lock.release()
