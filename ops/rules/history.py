"""Prometheus's stored history over its HTTP API: range queries in bounded chunks, and what it runs.

``query_range`` splits a window into chunks of at most ``max_points`` evaluation steps (below
Prometheus's 11,000 points per series) and at most one day, and runs them one after another:
a ``--since 90d`` costs Prometheus ninety one-day queries, never one huge one. A query past
Prometheus's own limits (``--query.max-samples``, ``--query.timeout``) fails with
``QueryRejected`` naming the chunk, instead of being retried harder.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import yaml

from ops.rules.durations import DurationInvalid, parse_duration

MIN_VERSION = (2, 33, 0)  # subqueries, `@` and negative offsets on by default
MAX_POINTS = 10_000
MAX_CHUNK_SECONDS = 86400.0


class PrometheusUnavailable(Exception):
    """Prometheus cannot be reached or does not answer as Prometheus does."""


class PrometheusTooOld(Exception):
    """Prometheus is older than MIN_VERSION."""


class QueryRejected(Exception):
    """Prometheus refused a query (bad expression, or past its limits)."""

    def __init__(self, message: str, query: str) -> None:
        super().__init__(message)
        self.query = query


@dataclass(frozen=True)
class PrometheusSetup:
    """What the running Prometheus evaluates with, from its config, flags and rules APIs."""

    version: str
    evaluation_interval: float = 60.0
    external_labels: Mapping[str, str] = field(default_factory=dict)
    alert_relabel_configs: tuple[Mapping[str, Any], ...] = ()
    resend_delay: float = 60.0
    lookback: float = 300.0  # --query.lookback-delta
    rule_groups: tuple[Mapping[str, Any], ...] = ()  # /api/v1/rules groups, as returned


@dataclass(frozen=True)
class Chunk:
    """The samples of one range query: ``values[k]`` at ``start + k * step`` per series."""

    start: float
    step: float
    steps: int
    series: tuple[tuple[Mapping[str, str], dict[int, float]], ...]


class PrometheusHistory:
    """Read-only client of one Prometheus; ``session`` is injected (tests and the CLI pass theirs)."""

    def __init__(
        self, url: str, session: requests.Session, timeout: float = 120.0, max_points: int = MAX_POINTS
    ) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = timeout
        self._max_points = max_points
        self.queries = 0
        self.query_seconds = 0.0

    def _get(self, path: str, params: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        try:
            if data is None:
                response = self._session.get(url, params=params, timeout=self._timeout)
            else:
                response = self._session.post(url, data=data, timeout=self._timeout)
        except requests.RequestException as exc:
            raise PrometheusUnavailable(f"Prometheus at {self.url} cannot be reached: {_reason(exc)}") from None
        try:
            document = response.json()
        except ValueError:
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} answered {path} with HTTP {response.status_code} and no JSON: "
                "is this the Prometheus URL?"
            ) from None
        if not isinstance(document, dict) or "status" not in document:
            raise PrometheusUnavailable(f"Prometheus at {self.url}: {path} is not a Prometheus API answer")
        if document["status"] != "success":
            error = f"{document.get('errorType', 'error')}: {document.get('error', 'no reason given')}"
            if response.status_code in (400, 422, 503) and data is not None:
                raise QueryRejected(error, data.get("query", ""))
            raise PrometheusUnavailable(
                f"Prometheus at {self.url}: {path} failed with HTTP {response.status_code}, {error}"
            )
        return document.get("data")

    def setup(self) -> PrometheusSetup:
        """Version (refused below MIN_VERSION), evaluation interval, external labels, resend delay, lookback, rules."""
        info = self._get("/api/v1/status/buildinfo")
        version = str(info.get("version", "")) if isinstance(info, dict) else ""
        numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:3])
        if len(numbers) < 2 or numbers < MIN_VERSION:
            minimum = ".".join(map(str, MIN_VERSION))
            raise PrometheusTooOld(
                f"Prometheus at {self.url} is version {version or 'unknown'}; the backtest needs {minimum} or later"
            )
        config = yaml.safe_load(self._get("/api/v1/status/config").get("yaml", "")) or {}
        global_config = config.get("global") or {}
        flags = self._get("/api/v1/status/flags") or {}
        groups = self._get("/api/v1/rules", params={"type": ""}).get("groups") or []
        try:
            interval = parse_duration(global_config.get("evaluation_interval", "1m"))
            resend = parse_duration(flags.get("rules.alert.resend-delay", "1m"))
            lookback = parse_duration(flags.get("query.lookback-delta", "5m"))
        except DurationInvalid as exc:
            raise PrometheusUnavailable(f"Prometheus at {self.url}: unexpected configuration: {exc}") from None
        return PrometheusSetup(
            version=version,
            evaluation_interval=interval,
            external_labels={str(k): str(v) for k, v in (global_config.get("external_labels") or {}).items()},
            alert_relabel_configs=tuple((config.get("alerting") or {}).get("alert_relabel_configs") or ()),
            resend_delay=resend,
            lookback=lookback,
            rule_groups=tuple(groups),
        )

    def chunks(self, start: float, end: float, step: float) -> Iterator[tuple[float, int]]:
        """(chunk start, steps) covering ``start``..``end`` on the grid ``start + k * step``."""
        total = math.floor((end - start) / step + 1e-9) + 1
        per_chunk = max(1, min(self._max_points, math.floor(MAX_CHUNK_SECONDS / step)))
        for first in range(0, total, per_chunk):
            yield start + first * step, min(per_chunk, total - first)

    def query_range(self, query: str, start: float, steps: int, step: float) -> Chunk:
        """``query`` at ``start + k * step`` for k < ``steps`` (one chunk: see ``chunks``)."""
        end = start + (steps - 1) * step
        data = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"}
        began = time.perf_counter()
        try:
            result = self._get("/api/v1/query_range", data=data)
        finally:
            self.queries += 1
            self.query_seconds += time.perf_counter() - began
        series = []
        for item in result.get("result", []) if isinstance(result, dict) else []:
            values = {}
            for t, raw in item.get("values", []):
                values[round((float(t) - start) / step)] = float(raw)
            series.append((dict(item.get("metric", {})), values))
        return Chunk(start, step, steps, tuple(series))


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unreachable"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__
