"""Admission control for the webhook: a bounded number of intakes at once per worker process.

Under overload the receiver refuses the excess at once with 503 and ``Retry-After`` instead of
letting it queue in front of the database: Alertmanager retries a 5xx, so nothing is dropped,
and the webhooks that are admitted keep their normal latency. Probes, scrapes and reads are not
gated; they have request threads of their own (gunicorn ``gthread``, RECEIVER_THREADS).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class Overloaded(Exception):
    """No intake slot is free and the short wait queue is full, or the wait ran out: answer 503."""


class Admission:
    """At most ``limit`` webhooks are stored at once; up to ``queue`` more wait ``wait`` seconds
    for a slot; any further one is refused at once, so a refusal costs no thread time."""

    def __init__(self, limit: int, queue: int, wait: float) -> None:
        if limit < 1 or queue < 0:
            raise ValueError(f"admission needs limit >= 1 and queue >= 0, got {limit} and {queue}")
        self.limit, self.queue = limit, queue
        self._wait = wait
        self._slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiting >= self.queue:
                    raise Overloaded(f"all {self.limit} intake slots busy and {self._waiting} webhooks waiting")
                self._waiting += 1
            try:
                admitted = self._slots.acquire(timeout=self._wait)
            finally:
                with self._lock:
                    self._waiting -= 1
            if not admitted:
                raise Overloaded(f"no intake slot free within {self._wait:g} s")
        try:
            yield
        finally:
            self._slots.release()


class RefusalSummary:
    """Counts refusals and says when to log them: the first at once, then one line per ``interval``
    with the count since the last line, so an overload does not also flood the logs."""

    def __init__(self, clock: Callable[[], float], interval: float) -> None:
        self._clock, self._interval = clock, interval
        self._lock = threading.Lock()
        self._count = 0
        self._logged_at: float | None = None

    def add(self) -> int:
        """Count one refusal; returns how many to report now, or 0 when it is not yet time."""
        with self._lock:
            self._count += 1
            now = self._clock()
            if self._logged_at is not None and now - self._logged_at < self._interval:
                return 0
            count, self._count, self._logged_at = self._count, 0, now
            return count


REFUSAL_BODY = b'{"error": "receiver overloaded; retry later"}\n'


class AdmissionGate:
    """WSGI middleware in front of the Flask app: a webhook POST takes an intake slot before Flask
    sees it and holds it until the answer is built; without a slot it gets 503 and ``Retry-After``
    straight away, which costs no request parsing, routing or body reading."""

    def __init__(
        self, app: WSGIApplication, admission: Admission, path: str, on_refused: Callable[[Overloaded], None]
    ) -> None:
        self._app, self._admission, self._path, self._on_refused = app, admission, path, on_refused

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self._path or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        try:
            with self._admission.slot():
                return self._app(environ, start_response)  # Flask has run the view when this returns
        except Overloaded as exc:
            self._on_refused(exc)
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(REFUSAL_BODY))),
                ("Retry-After", "1"),
            ]
            start_response("503 SERVICE UNAVAILABLE", headers)
            return [REFUSAL_BODY]
