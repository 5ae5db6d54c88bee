"""Metric snapshots in PostgreSQL: the values of the business and event metrics at each
collection cycle, for business-insight questions over months in plain SQL.

- ``metric_snapshots`` is partitioned by day (``metric_snapshots_YYYYMMDD``); rows arrive in
  one COPY per cycle. Raw snapshots are kept for the metrics retention (15 days): expiring a
  day is a ``DROP TABLE`` of its partition, which never locks the hot partition.
- ``metric_rollups_daily`` keeps min, max, average, last value and sample count per series and
  day for the alerts retention (90 days). A day is rolled up (idempotently) before its raw
  partition is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import class_row

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS metric_snapshots (
        collected_at TIMESTAMPTZ NOT NULL,
        collector TEXT NOT NULL,
        series TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL
    ) PARTITION BY RANGE (collected_at)""",
    """CREATE TABLE IF NOT EXISTS metric_rollups_daily (
        day DATE NOT NULL,
        collector TEXT NOT NULL,
        series TEXT NOT NULL,
        min DOUBLE PRECISION NOT NULL,
        max DOUBLE PRECISION NOT NULL,
        avg DOUBLE PRECISION NOT NULL,
        last DOUBLE PRECISION NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (day, collector, series)
    )""",
)
_PREFIX = "metric_snapshots_"


@dataclass(frozen=True)
class DailyRollup:
    day: date
    min: float
    max: float
    avg: float
    last: float
    samples: int


@dataclass(frozen=True)
class RetentionResult:
    rolled_up_days: list[date]
    dropped_partitions: list[str]
    deleted_rollups: int


def partition_name(day: date) -> str:
    return f"{_PREFIX}{day:%Y%m%d}"


class SnapshotStore:
    def __init__(self, uri: str, metrics_retention_seconds: float, rollup_retention_seconds: float) -> None:
        self._uri = uri
        self._raw_days = max(1, int(metrics_retention_seconds // 86400))
        self._rollup_days = max(1, int(rollup_retention_seconds // 86400))

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._uri, connect_timeout=5)

    def prepare(self, today: date) -> None:
        with self._connect() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            for day in (today, today + timedelta(days=1)):
                self._ensure_partition(conn, day)

    @staticmethod
    def _ensure_partition(conn: psycopg.Connection[tuple[object, ...]], day: date) -> None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF metric_snapshots FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(partition_name(day)),
                sql.Literal(start),
                sql.Literal(start + timedelta(days=1)),
            )
        )

    def write(self, collected_at: datetime, collector: str, values: Mapping[str, float]) -> int:
        """Write one cycle's values in one COPY; creates the day's partition if needed."""
        with self._connect() as conn:
            self._ensure_partition(conn, collected_at.astimezone(UTC).date())
            with (
                conn.cursor() as cur,
                cur.copy("COPY metric_snapshots (collected_at, collector, series, value) FROM STDIN") as copy,
            ):
                for series, value in values.items():
                    copy.write_row((collected_at, collector, series, value))
        return len(values)

    def partitions(self) -> list[str]:
        with self._connect() as conn:
            rows = conn.execute(
                """SELECT child.relname FROM pg_inherits
                   JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
                   JOIN pg_class child ON child.oid = pg_inherits.inhrelid
                   WHERE parent.relname = 'metric_snapshots' ORDER BY 1"""
            ).fetchall()
        return [str(row[0]) for row in rows]

    def roll_up(self, day: date) -> int:
        """(Re)compute the daily rollup of ``day`` from its raw partition; returns series rolled up."""
        with self._connect() as conn:
            if partition_name(day) not in self._partitions(conn):
                return 0
            cur = conn.execute(
                sql.SQL(
                    """INSERT INTO metric_rollups_daily (day, collector, series, min, max, avg, last, samples)
                       SELECT {day}, collector, series, min(value), max(value), avg(value),
                              (array_agg(value ORDER BY collected_at DESC))[1], count(*)
                       FROM {partition} GROUP BY collector, series
                       ON CONFLICT (day, collector, series) DO UPDATE SET
                           min = EXCLUDED.min, max = EXCLUDED.max, avg = EXCLUDED.avg,
                           last = EXCLUDED.last, samples = EXCLUDED.samples"""
                ).format(day=sql.Literal(day), partition=sql.Identifier(partition_name(day)))
            )
            return cur.rowcount

    def _partitions(self, conn: psycopg.Connection[tuple[object, ...]]) -> set[str]:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE %s", (f"{_PREFIX}%",)).fetchall()
        return {str(row[0]) for row in rows}

    def enforce_retention(self, today: date) -> RetentionResult:
        """Roll up and drop raw days past the metrics retention; delete rollups past theirs.

        Also creates tomorrow's partition, so writes after midnight never wait for DDL.
        """
        keep_from = today - timedelta(days=self._raw_days)
        rolled: list[date] = []
        dropped: list[str] = []
        with self._connect() as conn:
            self._ensure_partition(conn, today + timedelta(days=1))
            names = sorted(self._partitions(conn))
        for name in names:
            day = datetime.strptime(name.removeprefix(_PREFIX), "%Y%m%d").date()
            if day >= keep_from:
                continue
            self.roll_up(day)
            rolled.append(day)
            with self._connect() as conn:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
            dropped.append(name)
        with self._connect() as conn:
            deleted = conn.execute(
                "DELETE FROM metric_rollups_daily WHERE day < %s",
                (today - timedelta(days=self._rollup_days),),
            ).rowcount
        return RetentionResult(rolled, dropped, deleted)

    def rollups(self, series: str) -> list[DailyRollup]:
        with self._connect() as conn, conn.cursor(row_factory=class_row(DailyRollup)) as cur:
            return cur.execute(
                "SELECT day, min, max, avg, last, samples FROM metric_rollups_daily WHERE series = %s ORDER BY day",
                (series,),
            ).fetchall()
