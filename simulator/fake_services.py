"""Fake platform services: asset-, portfolio- and transaction-service as Prometheus sees them.

One process serves three HTTP endpoints (one port each), every one with ``/metrics`` in the
conventional HTTP server instrumentation and ``/health``:

- ``http_requests_total{service,route,method,status}``
- ``http_request_duration_seconds{service,route,method}`` (histogram)
- ``concurrent_users{service}`` (gauge)

Traffic is synthetic: ``FakeServices.tick(elapsed, seconds)`` records the requests the
services would have served in that interval, at the scenario's rate (``profile.rate``
requests/s per service, or the phase's ``rate``), error ratio and latency factor. A phase's
``health`` flips services ``unhealthy`` (``/health`` answers 503) or ``down`` (the port stops
answering, so Prometheus records ``up == 0``). ``synthetic_series`` adds N more series to
asset-service's exposition, for scrape-load tests.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from flask import Blueprint, Flask, Response, current_app
from flask.typing import ResponseReturnValue
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from simulator.scenario import Phase, Scenario

SERVICES = ("asset-service", "portfolio-service", "transaction-service")
# (route, method, share of the service's requests)
ROUTES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "asset-service": (
        ("/assets", "GET", 0.5),
        ("/assets/{id}", "GET", 0.35),
        ("/assets", "POST", 0.1),
        ("/assets/{id}", "PUT", 0.05),
    ),
    "portfolio-service": (
        ("/portfolios/{id}", "GET", 0.5),
        ("/portfolios/{id}/performance", "GET", 0.35),
        ("/portfolios/{id}/rebalance", "POST", 0.15),
    ),
    "transaction-service": (("/transactions", "POST", 0.6), ("/transactions/{id}", "GET", 0.4)),
}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A healthy service within a 99.9% SLO (the 6x burn threshold is 0.6%): 0.05% server errors.
BASE_ERROR_RATIO = 0.0005
CLIENT_ERROR_RATIO = 0.02
MEDIAN_LATENCY = 0.04
BASE_USERS = 120


class SyntheticSeries:
    """N gauge series ``synthetic_series_value{series="<i>"}``, values computed at scrape time."""

    def __init__(self, count: int, clock: Callable[[], float] = time.time) -> None:
        self.count = count
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("synthetic_series_value", "Synthetic series for scrape load.", labels=["series"])
        now = self._clock()
        for i in range(self.count):
            family.add_metric([str(i)], math.sin(now / 60 + i) * 100)
        yield family


class ServiceState:
    """One fake service: its registry, its instruments and whether it is healthy."""

    def __init__(self, name: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.registry = registry
        self.healthy = True
        self.requests = Counter(
            "http_requests", "HTTP requests served.", ["service", "route", "method", "status"], registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to serve an HTTP request.",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.users = Gauge("concurrent_users", "Users with an active session.", ["service"], registry=registry)


service_api = Blueprint("service", __name__)


def create_service_app(state: ServiceState) -> Flask:
    app = Flask(state.name)
    app.extensions["service"] = state
    app.register_blueprint(service_api)
    return app


def _state() -> ServiceState:
    state: ServiceState = current_app.extensions["service"]
    return state


@service_api.get("/metrics")
def metrics() -> ResponseReturnValue:
    return Response(generate_latest(_state().registry), mimetype=CONTENT_TYPE_LATEST)


@service_api.get("/health")
def health() -> ResponseReturnValue:
    state = _state()
    if state.healthy:
        return {"service": state.name, "status": "healthy"}
    return {"service": state.name, "status": "unhealthy"}, 503


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every second would flood the log with one line each."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class _Server:
    """One service's HTTP server; can be stopped ("down") and started again on the same port."""

    def __init__(self, app: Flask, port: int) -> None:
        self._app = app
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True, request_handler=_QuietHandler)
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"fake-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = self._thread = None


class FakeServices:
    def __init__(
        self,
        scenario: Scenario,
        ports: Mapping[str, int],
        *,
        synthetic_series: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenario = scenario
        self.states = {name: ServiceState(name, CollectorRegistry()) for name in SERVICES}
        if synthetic_series:
            self.states["asset-service"].registry.register(SyntheticSeries(synthetic_series))
        self._servers = {name: _Server(create_service_app(state), ports[name]) for name, state in self.states.items()}
        self._rng = random.Random(scenario.seed)  # noqa: S311 - reproducible test data, not crypto
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phase: Phase = scenario.phases[0]

    def ports(self) -> dict[str, int]:
        return {name: server.port for name, server in self._servers.items()}

    def start(self) -> None:
        for server in self._servers.values():
            server.start()
        self._apply(self.phase)

    def run(self, interval: float = 0.25, stop: threading.Event | None = None) -> None:
        """Tick until the scenario's duration has passed or ``stop`` is set (blocking)."""
        stop = stop or self._stop
        start = last = self._clock()
        duration = self.scenario.duration or math.inf
        while not stop.is_set() and (now := self._clock()) - start < duration:
            self.tick(now - start, now - last)
            last = now
            stop.wait(interval)

    def start_background(self, interval: float = 0.25) -> None:
        self.start()
        self._thread = threading.Thread(target=self.run, args=(interval,), name="fake-services", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for server in self._servers.values():
            server.stop()

    def tick(self, elapsed: float, seconds: float) -> None:
        """Record ``seconds`` worth of traffic under the phase in force at ``elapsed``."""
        phase = self.scenario.timeline.at(elapsed)
        if phase is not self.phase:
            self.phase = phase
            self._apply(phase)
        rate = phase.rate or self.scenario.profile.rate
        for name, state in self.states.items():
            applies = not phase.services or name in phase.services
            error_ratio = phase.http_error_ratio if applies and phase.http_error_ratio is not None else BASE_ERROR_RATIO
            factor = phase.http_latency_factor if applies and phase.http_latency_factor is not None else 1.0
            if not self._servers[name].up:
                continue  # a service that is down serves nothing
            self._traffic(state, round(rate * seconds), error_ratio, factor)
            users = BASE_USERS * (1 + 0.3 * math.sin(elapsed / 300)) + self._rng.gauss(0, 5)
            state.users.labels(name).set(max(0, round(users)))

    def _traffic(self, state: ServiceState, requests: int, error_ratio: float, factor: float) -> None:
        routes = ROUTES[state.name]
        weights = [share for _, _, share in routes]
        for _ in range(requests):
            route, method, _ = self._rng.choices(routes, weights=weights)[0]
            roll = self._rng.random()
            if roll < error_ratio:
                status = "503" if self._rng.random() < 0.5 else "500"
            elif roll < error_ratio + CLIENT_ERROR_RATIO:
                status = "404" if method == "GET" else "400"
            else:
                status = "201" if method == "POST" else "200"
            latency = self._rng.lognormvariate(math.log(MEDIAN_LATENCY), 0.6) * factor
            state.requests.labels(state.name, route, method, status).inc()
            state.duration.labels(state.name, route, method).observe(latency)

    def _apply(self, phase: Phase) -> None:
        for name, state in self.states.items():
            applies = not phase.services or name in phase.services
            health = phase.health if applies and phase.health is not None else "healthy"
            state.healthy = health == "healthy"
            if health == "down":
                self._servers[name].stop()
            else:
                self._servers[name].start()
