"""Business data as gauges: SQL on PostgreSQL and aggregation pipelines on MongoDB, from a YAML file.

In the spirit of query-exporter: each query has a name (the gauge's name), help text, a
value column, label columns, an interval and a timeout. A scheduler thread runs every
query on its own interval, never during a scrape; ``collect()`` only reads the last
results. A failing query keeps its last value, is marked stale
(``monitoring_query_stale{query} 1``), counts an error and never breaks ``/metrics``.

```yaml
queries:
  - name: portfolio_goal_met_ratio
    help: Share of portfolios meeting their goal.
    database: postgres
    sql: SELECT avg((progress >= 1)::int)::float AS value FROM portfolio_goals
    value: value
    interval: 30s
    timeout: 5s
  - name: assets_under_management
    help: Assets under management by asset class, in EUR.
    database: mongodb
    collection: assets
    pipeline: [{$group: {_id: $asset_class, value: {$sum: $value}}}]
    value: value
    labels: {asset_class: _id}    # label name: column
```
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec
import psycopg
import pymongo
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg import sql
from psycopg.rows import dict_row

from exporter.schedule import IntervalScheduler
from monitoring.config_files import read_yaml
from monitoring.settings import parse_duration

log = structlog.get_logger(__name__)

MAX_ROWS = 1000
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class QuerySpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    help: str
    database: Literal["postgres", "mongodb"]
    value: str
    labels: list[str] | dict[str, str] = []  # label columns, or {label name: column}
    interval: str | float = "30s"
    timeout: str | float = "10s"
    sql: str | None = None
    collection: str | None = None
    pipeline: list[dict[str, Any]] | None = None

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    @property
    def label_columns(self) -> list[tuple[str, str]]:
        """(label name, column) pairs."""
        if isinstance(self.labels, dict):
            return list(self.labels.items())
        return [(label, label) for label in self.labels]


class QueriesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    queries: list[QuerySpec] = []
    mongodb_database: str | None = None


def load_queries(path: Path) -> QueriesFile:
    """Parse and check the file; every problem names the file and the query."""
    document = read_yaml(path, "queries")
    try:
        loaded = msgspec.convert(document.value or {}, QueriesFile)
    except msgspec.ValidationError as exc:
        raise document.validation_error(exc, "queries") from None
    names: set[str] = set()
    for index, q in enumerate(loaded.queries):
        problem = _problem(q)
        if q.name in names:
            problem = "duplicate name"
        if problem:
            raise document.error(("queries", index), f"query {q.name!r}: {problem}")
        names.add(q.name)
    return loaded


def _problem(q: QuerySpec) -> str | None:
    if not _METRIC_NAME.match(q.name):
        return "name is not a valid Prometheus metric name"
    if any(not _LABEL_NAME.match(label) or label.startswith("__") for label, _ in q.label_columns):
        return "a label column is not a valid Prometheus label name"
    if q.database == "postgres" and not q.sql:
        return "a postgres query needs sql"
    if q.database == "mongodb" and (not q.collection or q.pipeline is None):
        return "a mongodb query needs collection and pipeline"
    try:
        q.interval_seconds  # noqa: B018 - validate now
        q.timeout_seconds  # noqa: B018
    except ValueError as exc:
        return f"interval/timeout: {exc}"
    return None


class QueryFailed(Exception):
    """A query could not produce rows (database down, timeout, bad SQL, bad value column)."""


class Backend(Protocol):
    def rows(self, query: QuerySpec) -> list[Mapping[str, object]]: ...

    def close(self) -> None: ...


class PostgresBackend:
    """One connection, reopened after a failure; each run in a transaction with ``statement_timeout``."""

    def __init__(self, uri: str) -> None:
        self._uri = uri
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    def rows(self, query: QuerySpec) -> list[Mapping[str, object]]:
        assert query.sql is not None
        timeout = query.timeout_seconds
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._uri, connect_timeout=max(int(timeout), 1), row_factory=dict_row)
            with self._conn.transaction():
                self._conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(timeout * 1000))))
                return list(self._conn.execute(query.sql.encode()).fetchmany(MAX_ROWS))
        except psycopg.Error as exc:
            if self._conn is not None and self._conn.broken:
                self._conn = None
            raise QueryFailed(str(exc).strip()) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MongoBackend:
    def __init__(self, uri: str, database: str | None) -> None:
        self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self._database = database

    def rows(self, query: QuerySpec) -> list[Mapping[str, object]]:
        assert query.collection is not None
        assert query.pipeline is not None
        try:
            db = self._client[self._database] if self._database else self._client.get_default_database()
            cursor = db[query.collection].aggregate(query.pipeline, maxTimeMS=int(query.timeout_seconds * 1000))
            return [row for row, _ in zip(cursor, range(MAX_ROWS), strict=False)]
        except (pymongo.errors.PyMongoError, TypeError) as exc:
            raise QueryFailed(str(exc)) from exc

    def close(self) -> None:
        self._client.close()


@dataclass
class _State:
    samples: list[tuple[tuple[str, ...], float]]
    ok: bool = False
    has_value: bool = False
    errors: int = 0
    duration: float = 0.0


class QueryRunner(Collector):
    """Owns the scheduler thread and serves the last results at scrape time."""

    def __init__(
        self,
        queries: Sequence[QuerySpec],
        backends: Mapping[str, Backend],
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._queries = tuple(queries)
        self._backends = backends
        self._clock = clock
        self._states = {q.name: _State([]) for q in self._queries}
        self._lock = threading.Lock()
        jobs = [(q.interval_seconds, partial(self.run_once, q)) for q in self._queries]
        self._scheduler = IntervalScheduler(jobs, "business-queries", clock, on_error)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._scheduler.stop(timeout)
        for backend in self._backends.values():
            backend.close()

    def run_once(self, query: QuerySpec) -> None:
        started = time.perf_counter()
        try:
            rows = self._backends[query.database].rows(query)
            samples = [_sample(query, row) for row in rows]
        except QueryFailed as exc:
            with self._lock:
                state = self._states[query.name]
                state.ok = False
                state.errors += 1
                state.duration = time.perf_counter() - started
            log.warning("business_query_failed", query=query.name, error=str(exc)[:300])
            return
        with self._lock:
            state = self._states[query.name]
            state.samples, state.ok, state.has_value = samples, True, True
            state.duration = time.perf_counter() - started

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "monitoring_query_up", "1 when the last run of a business query succeeded.", labels=["query"]
        )
        stale = GaugeMetricFamily(
            "monitoring_query_stale", "1 when a query's gauge shows the value of an earlier run.", labels=["query"]
        )
        duration = GaugeMetricFamily(
            "monitoring_query_scrape_duration_seconds",
            "Duration of the last run of a business query.",
            labels=["query"],
        )
        errors = CounterMetricFamily("monitoring_query_errors", "Failed runs of a business query.", labels=["query"])
        with self._lock:
            for q in self._queries:
                state = self._states[q.name]
                if state.has_value:
                    gauge = GaugeMetricFamily(q.name, q.help, labels=[label for label, _ in q.label_columns])
                    for labels, value in state.samples:
                        gauge.add_metric(list(labels), value)
                    yield gauge
                up.add_metric([q.name], 1.0 if state.ok else 0.0)
                stale.add_metric([q.name], 1.0 if state.has_value and not state.ok else 0.0)
                duration.add_metric([q.name], state.duration)
                errors.add_metric([q.name], state.errors)
        yield up
        yield stale
        yield duration
        yield errors


def _sample(query: QuerySpec, row: Mapping[str, object]) -> tuple[tuple[str, ...], float]:
    if query.value not in row:
        raise QueryFailed(f"no value column {query.value!r} in {sorted(row)}")
    raw = row[query.value]
    try:
        value = math.nan if raw is None else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise QueryFailed(f"value column {query.value!r} is not a number: {raw!r}") from exc
    columns = [column for _, column in query.label_columns]
    missing = [column for column in columns if column not in row]
    if missing:
        raise QueryFailed(f"no label columns {missing}")
    return tuple(str(row[column]) for column in columns), value
