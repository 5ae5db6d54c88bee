"""How long the receiver takes to answer: one histogram of request durations per route and status.

``RequestTimer`` is the outermost WSGI middleware, so a webhook refused by admission control
(503 before Flask runs) is timed too. The route is the URL rule's template
(``/api/v1/alerts/<int:alert_id>``), never the raw path, so an id or a scanner's made-up paths
add no series: a request that matched no rule counts as ``unmatched``, except on the paths
given as ``fixed`` (templates without variables, answered before Flask by the admission gate). Under gunicorn the
histogram is summed across workers by prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

from flask import request
from prometheus_client import CollectorRegistry, Histogram

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ROUTE_KEY = "receiver.route"  # the environ key where the matched route's template is left for the timer
UNMATCHED = "unmatched"
# From a probe's sub-millisecond answer to a webhook stuck behind an outage.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram(
            "receiver_http_request_duration_seconds",
            "Time from a request's arrival in the app to its answer, by method, route template and status code",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=registry,
        )


def remember_route() -> None:
    """Flask ``before_request``: leave the matched rule's template where the timer reads it."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule


class RequestTimer:
    """WSGI middleware: times every request and records it under its route and status."""

    def __init__(
        self,
        app: WSGIApplication,
        metrics: RequestMetrics,
        fixed: Collection[str] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._app, self._metrics, self._fixed, self._clock = app, metrics, frozenset(fixed), clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = self._clock()
        status = "500"  # unless the app says otherwise: an exception escaped it

        def recording(status_line: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
            nonlocal status
            status = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)  # type: ignore[arg-type]

        try:
            return self._app(environ, recording)  # type: ignore[arg-type]
        finally:
            route = environ.get(ROUTE_KEY) or (path if (path := environ.get("PATH_INFO")) in self._fixed else UNMATCHED)
            self._metrics.duration.labels(environ.get("REQUEST_METHOD", ""), route, status).observe(
                self._clock() - started
            )
