"""Service health checks from a YAML list: HTTP or TCP, damped, with a record on every transition.

```yaml
services:
  - name: asset-service
    url: http://asset-service:8080/health   # or  tcp: asset-service:5432
    interval: 15s
    timeout: 2s
    expected_status: 200
    json_path: status          # optional JSON-body condition: the value at this dotted path ...
    json_equals: UP            # ... must equal this
    failures_to_down: 3        # damping: N consecutive failures mark the service down
    successes_to_up: 2         # and M consecutive successes mark it up again
```

``service_up{service}`` shows the damped state (absent until the first check), and
``service_health_check_seconds{service}`` the last check's duration. Every transition
(including the first, from ``unknown``) writes a ServiceHealthChanged record to the log
and counts ``service_health_transitions_total{service,state}``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import requests
import structlog
from opentelemetry import trace
from opentelemetry.trace import Tracer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.schedule import IntervalScheduler
from monitoring.catalogue import HealthState, ServiceHealthChanged
from monitoring.config_files import read_yaml
from monitoring.settings import parse_duration

log = structlog.get_logger(__name__)


class ServiceCheck(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    url: str | None = None
    tcp: str | None = None
    interval: str | float = "15s"
    timeout: str | float = "2s"
    expected_status: int = 200
    json_path: str | None = None
    json_equals: Any = None
    failures_to_down: int = 3
    successes_to_up: int = 2

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)


class ServicesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    services: list[ServiceCheck] = []


def load_checks(path: Path) -> tuple[ServiceCheck, ...]:
    document = read_yaml(path, "health checks")
    try:
        loaded = msgspec.convert(document.value or {}, ServicesFile)
    except msgspec.ValidationError as exc:
        raise document.validation_error(exc, "health checks") from None
    names: set[str] = set()
    for index, check in enumerate(loaded.services):
        problem = None
        if (check.url is None) == (check.tcp is None):
            problem = "needs exactly one of url or tcp"
        elif check.tcp is not None and not check.tcp.rpartition(":")[2].isdigit():
            problem = "tcp must be host:port"
        elif check.failures_to_down < 1 or check.successes_to_up < 1:
            problem = "failures_to_down and successes_to_up must be at least 1"
        elif check.name in names:
            problem = "duplicate name"
        try:
            check.interval_seconds  # noqa: B018 - validate now
            check.timeout_seconds  # noqa: B018
        except ValueError as exc:
            problem = f"interval/timeout: {exc}"
        if problem:
            raise document.error(("services", index), f"service {check.name!r}: {problem}")
        names.add(check.name)
    return tuple(loaded.services)


class CheckFailed(Exception):
    """The service did not answer as expected; the message says how."""


def probe(check: ServiceCheck, session: requests.Session) -> None:
    """Raise ``CheckFailed`` unless the service answers as ``check`` expects."""
    timeout = check.timeout_seconds
    if check.tcp is not None:
        host, _, port = check.tcp.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as exc:
            raise CheckFailed(f"tcp {check.tcp}: {exc}") from exc
        return
    assert check.url is not None
    try:
        response = session.get(check.url, timeout=timeout)
    except requests.RequestException as exc:
        raise CheckFailed(f"GET {check.url}: {type(exc).__name__}") from exc
    if response.status_code != check.expected_status:
        raise CheckFailed(f"status {response.status_code}, expected {check.expected_status}")
    if check.json_path is not None:
        try:
            node: Any = response.json()
            for part in check.json_path.split("."):
                node = node[part]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise CheckFailed(f"body has no JSON value at {check.json_path!r}") from exc
        if node != check.json_equals:
            raise CheckFailed(f"{check.json_path} is {node!r}, expected {check.json_equals!r}")


@dataclass
class _Health:
    state: HealthState = "unknown"
    failures: int = 0
    successes: int = 0
    seconds: float = 0.0


class HealthChecker(Collector):
    """Owns the checking thread; damps each service's state and records every transition."""

    def __init__(
        self,
        checks: Sequence[ServiceCheck],
        session: requests.Session,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] = lambda: None,
        on_transition: Callable[[ServiceHealthChanged], None] = lambda record: None,
        tracer: Tracer | None = None,
    ) -> None:
        self._checks = tuple(checks)
        self._tracer = tracer or trace.NoOpTracer()
        self._on_transition = on_transition
        self._session = session
        self._now = now
        self._health = {c.name: _Health() for c in self._checks}
        self._transitions: dict[tuple[str, str], int] = {}
        self.records: list[ServiceHealthChanged] = []  # the latest transitions
        self._lock = threading.Lock()
        jobs = [(c.interval_seconds, partial(self.check_once, c)) for c in self._checks]
        self._scheduler = IntervalScheduler(jobs, "health-checks", clock, on_error)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._scheduler.stop(timeout)

    def check_once(self, check: ServiceCheck) -> None:
        """One check, in a "health check" span: a ServiceHealthChanged it emits carries its traceparent."""
        with self._tracer.start_as_current_span("health check", attributes={"monitoring.service": check.name}):
            self._check(check)

    def _check(self, check: ServiceCheck) -> None:
        started = time.perf_counter()
        reason = "ok"
        try:
            probe(check, self._session)
            ok = True
        except CheckFailed as exc:
            ok, reason = False, str(exc)
        with self._lock:
            health = self._health[check.name]
            health.seconds = time.perf_counter() - started
            if ok:
                health.successes, health.failures = health.successes + 1, 0
            else:
                health.failures, health.successes = health.failures + 1, 0
            target: HealthState | None = None
            if health.state == "unknown":
                target = "up" if ok else "down"
            elif health.state == "down" and health.successes >= check.successes_to_up:
                target = "up"
            elif health.state == "up" and health.failures >= check.failures_to_down:
                target = "down"
            if target is None:
                return
            record = ServiceHealthChanged(
                service=check.name, previous=health.state, current=target, reason=reason, checked_at=self._now()
            )
            health.state = target
            key = (check.name, target)
            self._transitions[key] = self._transitions.get(key, 0) + 1
            self.records = [*self.records[-99:], record]
        log.info("ServiceHealthChanged", **msgspec.to_builtins(record))
        self._on_transition(record)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("service_up", "1 when the service is up after damping, 0 when down.", labels=["service"])
        seconds = GaugeMetricFamily(
            "service_health_check_seconds", "Duration of the last health check.", labels=["service"]
        )
        transitions = CounterMetricFamily(
            "service_health_transitions",
            "ServiceHealthChanged transitions, by service and new state.",
            labels=["service", "state"],
        )
        with self._lock:
            for name, health in self._health.items():
                if health.state != "unknown":
                    up.add_metric([name], 1.0 if health.state == "up" else 0.0)
                    seconds.add_metric([name], health.seconds)
            for (name, state), count in sorted(self._transitions.items()):
                transitions.add_metric([name, state], count)
        yield up
        yield seconds
        yield transitions
