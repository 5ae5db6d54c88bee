"""A circuit breaker for the database connection: fail fast while the database is known down.

After a connection failure every caller gets ``DatabaseUnavailable`` at once for ``cooldown``
seconds instead of each waiting for the pool timeout; then one caller at a time probes the
database, and the first success closes the breaker. The clock is passed in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Breaker:
    def __init__(self, clock: Callable[[], float], cooldown: float) -> None:
        self._clock = clock
        self._cooldown = cooldown
        self._lock = threading.Lock()
        self._failed_at: float | None = None  # None: closed
        self._probing = False

    def allow(self) -> bool:
        """True when the caller may try the database: closed, or the one probe after the cooldown."""
        with self._lock:
            if self._failed_at is None:
                return True
            if self._probing or self._clock() - self._failed_at < self._cooldown:
                return False
            self._probing = True
            return True

    def succeeded(self) -> None:
        with self._lock:
            self._failed_at, self._probing = None, False

    def failed(self) -> None:
        with self._lock:
            self._failed_at, self._probing = self._clock(), False

    def released(self) -> None:
        """The caller let go without a verdict (an error that says nothing about reachability)."""
        with self._lock:
            self._probing = False

    @property
    def probing(self) -> bool:
        """A caller was let through to probe the database and has not reported back yet."""
        with self._lock:
            return self._probing

    def down_for(self) -> float | None:
        """Seconds since the failure that opened the breaker, or None when it is closed."""
        with self._lock:
            return None if self._failed_at is None else self._clock() - self._failed_at
