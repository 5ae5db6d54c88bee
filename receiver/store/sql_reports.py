"""The alert-quality reports in SQL: one implementation for PostgreSQL and SQLite.

Definitions are in ``receiver.store.reports``. The dialects differ in small fragments only: how a
list reaches a query (arrays through ``unnest`` on PostgreSQL, one JSON array through ``json_each``
on SQLite), rounding down to an integer (``floor`` on PostgreSQL, where ``CAST`` rounds to nearest;
``CAST`` truncates on SQLite, and every value rounded here is positive), and, on PostgreSQL, the
report's transaction settings: a ``REPEATABLE READ, READ ONLY`` snapshot (SQLite's transaction is
one already), ``work_mem`` for the hash tables, no merge joins (materialised CTEs carry no
statistics: the planner sorted a million rows to merge where hashing the smaller side is right), no
JIT (compiling the expressions cost more than it saved).

What each read costs (docs/receiver.md, "Alert-quality reports"):

- ``alerts``: one pass over the window's alerts, kept as a materialised CTE (``v``): counts per
  priority, group and fate with the time-to-resolve histogram in one hash aggregation, the
  time-to-acknowledge histogram in another (``LADDER`` buckets: no sort of a million durations), and
  the window's re-fires (``timeline_refired``) and pages matched to ``v`` in one hash join;
- ``ranked``: the alerts whose time to acknowledge or resolve lies in a bucket holding a wanted rank,
  found through ``alerts_time_to_ack`` and ``alerts_time_to_resolve`` (expression indexes, migration
  9): a few thousand at a million alerts, numbered in order;
- pages: the delivered paging jobs through ``outbox_notified`` (channel, delivery time; migration 9),
  matched to their segment of local time by the UTC hour first (an equality join), then by the
  segment's exact bounds.
"""

# ruff: noqa: S608 - SQL built from constant fragments of this module; every value is a bound parameter

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from receiver.store.reports import (
    FLAPPING_CYCLES,
    AckState,
    AlertCount,
    AlertRows,
    DurationBucket,
    FlappingAlert,
    FlappingRows,
    GroupBy,
    Metric,
    NoisyAlert,
    PageCount,
    RankTarget,
    ReportQuery,
)
from receiver.store.sql_repository import SqlRepository

ACKNOWLEDGED = "a.acked_at IS NOT NULL AND (a.resolved_at IS NULL OR a.acked_at <= a.resolved_at)"
# Durations from when the receiver first saw the alert (as the API's timeToAckSeconds); never negative
# (an alert that arrived already resolved has an end before its first sighting: 0).
TIME_TO_ACK = (
    f"CASE WHEN {ACKNOWLEDGED} THEN CASE WHEN a.acked_at > a.first_seen THEN a.acked_at - a.first_seen ELSE 0.0 END END"
)
TIME_TO_RESOLVE = (
    "CASE WHEN a.resolved_at IS NOT NULL THEN"
    " CASE WHEN a.resolved_at > a.first_seen THEN a.resolved_at - a.first_seen ELSE 0.0 END END"
)
STATE = (
    f"CASE WHEN {ACKNOWLEDGED} THEN {AckState.ACKNOWLEDGED.value}"
    f" WHEN a.resolved_at IS NOT NULL THEN {AckState.RESOLVED_UNACKNOWLEDGED.value}"
    f" ELSE {AckState.FIRING_UNACKNOWLEDGED.value} END"
)
FIRST_SEEN_IN_WINDOW = "a.first_seen >= %s AND a.first_seen < %s"
# A page: a delivered trigger or escalation on a paging channel (resolves and PagerDuty acknowledgements
# tell people that something ended). The first two terms are outbox_notified's condition.
PAGED = (
    "o.state = 'delivered' AND o.action IN ('trigger', 'escalate') AND o.channel IN ({channels})"
    " AND o.delivered_at >= %s AND o.delivered_at < %s"
)
# An alert belongs to every channel it was notified on.
CHANNEL_MEMBERSHIP = (
    "alerts a JOIN (SELECT DISTINCT alert_id, channel FROM outbox"
    " WHERE state = 'delivered' AND action IN ('trigger', 'escalate')) n ON n.alert_id = a.id"
)


# Histogram buckets, ascending with the duration: (below this many seconds, bucket width, first bucket number
# minus the first width multiple), so bucket = first + floor(duration / width). 1 s buckets below 10 minutes,
# 10 s below 2 hours, 1 minute below a day, 10 minutes beyond: at most a few thousand buckets per group.
LADDER = ((600, 1, 0), (7200, 10, 540), (86400, 60, 1140), (None, 600, 2436))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The durations ``[low, high)`` of a bucket, widened by a second on both sides (the SQL checks the
    bucket itself; this only bounds an index range). Bucket 0 also holds the clamped negative durations."""
    for below, width, first in LADDER:
        low, high = (bucket - first) * width, (bucket - first + 1) * width
        if below is None or low < below:
            return (-1e18 if bucket == 0 else low - 1.0), high + 1.0
    raise AssertionError("the last step has no bound")


class SqlReports(SqlRepository):
    """``ReportReads`` over the alert-history database (the tables of ``SqlAlertHistory``)."""

    @contextmanager
    def snapshot(self) -> Iterator[SqlReportSnapshot]:
        with self._tx() as conn:
            if self._postgres:  # one snapshot for every read; SQLite's transaction is one already
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute("SET LOCAL work_mem = '64MB'")  # the histograms' hash tables, without spilling
                # Materialised CTEs carry no statistics: a merge join would sort a million rows where hashing
                # the smaller side (the re-fires, the pages) is what they need.
                conn.execute("SET LOCAL enable_mergejoin = off")
                conn.execute("SET LOCAL jit = off")
            yield SqlReportSnapshot(self, conn)

    # --- dialect fragments ---

    def whole(self, expression: str) -> str:
        """``expression`` (>= 0) rounded down to an integer."""
        return f"CAST(floor({expression}) AS BIGINT)" if self._postgres else f"CAST({expression} AS INTEGER)"

    def bucket(self, duration: str) -> str:
        """The histogram bucket of a duration in seconds (>= 0): see ``LADDER``."""
        steps = " ".join(
            f"WHEN {duration} < {below} THEN {first} + {self.whole(f'{duration} / {width}')}"
            for below, width, first in LADDER[:-1]
        )
        _, width, first = LADDER[-1]
        return f"CASE {steps} ELSE {first} + {self.whole(f'{duration} / {width}')} END"

    def rows_of(
        self, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> tuple[str, list[Any]]:
        """A SELECT of ``rows`` with named columns: arrays through ``unnest`` on PostgreSQL (one parameter
        per column), one JSON array through ``json_each`` on SQLite."""
        if self._postgres:
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            return f"SELECT * FROM unnest({arrays}) AS r({', '.join(columns)})", [
                [row[i] for row in rows] for i in range(len(columns))
            ]
        picks = ", ".join(f"json_extract(value, '$[{i}]') AS {c}" for i, c in enumerate(columns))
        return f"SELECT {picks} FROM json_each(%s)", [json.dumps([list(r) for r in rows])]

    def run(self, conn: Any, text: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._run(conn, text, params).fetchall())


class SqlReportSnapshot:
    """The reads of one report, on one connection inside one transaction."""

    def __init__(self, sql: SqlReports, conn: Any) -> None:
        self._sql = sql
        self._conn = conn

    @staticmethod
    def _grouping(query: ReportQuery, overall: bool) -> tuple[str, str]:
        """(the group's expression, the alerts it ranges over)"""
        if overall:
            return "''", "alerts a"
        if query.group_by is GroupBy.CHANNEL:
            return "n.channel", CHANNEL_MEMBERSHIP
        return f"a.{query.group_by.value}", "alerts a"

    def alerts(self, query: ReportQuery, *, overall: bool = False, pages: bool = False) -> AlertRows:
        """One statement, one pass over the window's alerts (``v``): counts with the time-to-resolve
        histogram (one aggregation), the time-to-acknowledge histogram, and the window's re-fires and,
        with ``pages``, pages per group and segment, matched to ``v`` by alert id in one hash join (the
        alerts of older re-fires and pages, first seen before the window, are looked up on their own)."""
        group, source = self._grouping(query, overall)
        window = [query.since, query.until]
        bucket = self._sql.bucket
        by_channel = query.group_by is GroupBy.CHANNEL and not overall
        with_pages = pages and bool(query.paging_channels) and bool(query.segments)
        priority_column = "" if group == "a.priority" else "a.priority AS p, "
        ctes = [
            "rf AS MATERIALIZED (SELECT alert_id AS id, COUNT(*) AS n FROM timeline"
            " WHERE kind = 'refired' AND at >= %s AND at < %s GROUP BY alert_id)",
            f"v AS MATERIALIZED (SELECT a.id AS id, {priority_column}{group} AS g, {STATE} AS s, {TIME_TO_ACK} AS xa,"
            f" {TIME_TO_RESOLVE} AS xr, a.escalations AS e"
            f" FROM {source} WHERE {FIRST_SEEN_IN_WINDOW})",
        ]
        params: list[Any] = [*window, *window]
        # the window's re-fires (and pages): (alert id, segment or NULL, pages, re-fires)
        events = ["SELECT id, CAST(NULL AS INTEGER) AS i, 0 AS pages, n AS refires FROM rf"]
        if with_pages:
            segments, segment_params = self._segments(query)
            condition, paged_params = self._paged(query)
            hour = self._sql.whole
            ctes += [
                f"seg AS MATERIALIZED ({segments})",
                "pg AS MATERIALIZED (SELECT o.alert_id AS id, o.channel AS c, seg.i AS i FROM outbox o"
                f" JOIN seg ON seg.hour = {hour('o.delivered_at / 3600')}"
                f" AND o.delivered_at >= seg.lo AND o.delivered_at < seg.hi WHERE {condition})",
            ]
            params += [*segment_params, *paged_params]
            if not by_channel:
                events.append("SELECT id, i, 1, 0 FROM pg")
        ctes.append(f"ev AS ({' UNION ALL '.join(events)})")
        priority = "g" if group == "a.priority" else "p"  # grouped by priority: one key fewer to hash
        selects = [
            f"SELECT 0, {priority}, g, s, {bucket('xr')}, COUNT(*), SUM(e), SUM(CASE WHEN e > 0 THEN 1 ELSE 0 END),"
            f" MIN(xr), MAX(xr) FROM v GROUP BY {priority}, g, s, 5",
            f"SELECT 1, NULL, g, NULL, b, COUNT(*), NULL, NULL, MIN(x), MAX(x)"
            f" FROM (SELECT g, xa AS x, {bucket('xa')} AS b FROM v WHERE xa IS NOT NULL) d GROUP BY g, b",
        ]
        select_params: list[Any] = []
        if by_channel:  # an alert counts under each of its channels: joined, not looked up
            selects += [
                "SELECT 3, NULL, v.g, NULL, NULL, 0, SUM(ev.refires), NULL, NULL, NULL"
                " FROM ev JOIN v ON v.id = ev.id GROUP BY v.g",
                f"SELECT 3, NULL, g, NULL, NULL, 0, SUM(n), NULL, NULL, NULL FROM (SELECT {group} AS g, rf.n AS n"
                f" FROM {source} JOIN rf ON rf.id = a.id WHERE a.first_seen < %s) older GROUP BY g",
            ]
            select_params.append(query.since)
            if with_pages:
                selects.append("SELECT 3, NULL, c, NULL, i, COUNT(*), 0, NULL, NULL, NULL FROM pg GROUP BY c, i")
        else:  # from the pass when the alert is in the window; looked up by id when it was first seen before
            selects.append(
                "SELECT 3, NULL, g, NULL, i, SUM(pages), SUM(refires), NULL, NULL, NULL FROM (SELECT"
                f" COALESCE(v.g, (SELECT {group} FROM alerts a WHERE a.id = ev.id)) AS g, ev.i AS i,"
                " ev.pages AS pages, ev.refires AS refires FROM ev LEFT JOIN v ON v.id = ev.id) matched GROUP BY g, i"
            )
        rows = self._sql.run(
            self._conn, f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}", [*params, *select_params]
        )
        refired: dict[str, int] = {}
        page_counts: dict[tuple[str, int], int] = {}
        counts, durations = [], []
        for kind, p, g, s, b, n, e, m, low, high in rows:
            if kind == 0:
                counts.append(AlertCount(str(p), str(g), AckState(int(s)), int(n), int(e), int(m)))
                if b is not None:
                    durations.append(
                        DurationBucket(Metric.TIME_TO_RESOLVE, str(g), int(b), int(n), float(low), float(high))
                    )
            elif kind == 1:
                durations.append(DurationBucket(Metric.TIME_TO_ACK, str(g), int(b), int(n), float(low), float(high)))
            else:
                refired[str(g)] = refired.get(str(g), 0) + int(e)
                if b is not None and int(n):
                    page_counts[str(g), int(b)] = page_counts.get((str(g), int(b)), 0) + int(n)
        return AlertRows(
            tuple(counts),
            tuple(durations),
            {g: n for g, n in refired.items() if n},
            tuple(PageCount(g, i, n) for (g, i), n in page_counts.items()),
        )

    def _segments(self, query: ReportQuery) -> tuple[str, list[Any]]:
        """The window's segments as rows (i, lo, hi, hour): ``hour`` is the UTC hour they lie in."""
        rows, params = self._sql.rows_of(
            ("i", "lo", "hi"),
            ("int4", "float8", "float8"),
            [(i, int(lo), int(hi)) for i, (lo, hi) in enumerate(query.segments)],
        )
        return f"SELECT i, lo, hi, {self._sql.whole('lo / 3600')} AS hour FROM ({rows}) s", params

    def ranked(
        self, query: ReportQuery, targets: Sequence[RankTarget], *, overall: bool = False
    ) -> dict[RankTarget, float]:
        """Through the duration indexes: only the alerts whose duration lies in a wanted bucket are read
        (one index range per bucket), then numbered within their bucket: per group, and across groups for
        the targets of all alerts."""
        if not targets:
            return {}
        group, source = self._grouping(query, overall)
        bucket = self._sql.bucket
        wanted, wanted_params = self._sql.rows_of(
            ("m", "g", "b", "r"),
            ("int4", "text", "int8", "int8"),
            [(t.metric.value, t.group, t.bucket, t.rank) for t in targets],
        )
        parts, params = [], []
        for metric, raw, duration, present in (
            (
                Metric.TIME_TO_ACK,
                "a.acked_at - a.first_seen",
                TIME_TO_ACK,
                f"a.acked_at IS NOT NULL AND {ACKNOWLEDGED}",
            ),
            (Metric.TIME_TO_RESOLVE, "a.resolved_at - a.first_seen", TIME_TO_RESOLVE, "a.resolved_at IS NOT NULL"),
        ):
            buckets = sorted({t.bucket for t in targets if t.metric is metric})
            if not buckets:
                continue
            ranges = [bucket_bounds(b) for b in buckets]
            parts.append(
                f"SELECT {metric.value} AS m, {group} AS g, {bucket(duration)} AS b, {duration} AS x FROM {source}"
                f" WHERE {present} AND {FIRST_SEEN_IN_WINDOW}"
                f" AND ({' OR '.join(f'({raw} >= %s AND {raw} < %s)' for _ in ranges)})"
            )
            params += [query.since, query.until, *(bound for pair in ranges for bound in pair)]
        rows = self._sql.run(
            self._conn,
            f"WITH t AS MATERIALIZED ({wanted}), d AS ({' UNION ALL '.join(parts)}),"
            " k AS (SELECT m, g, b, x, ROW_NUMBER() OVER (PARTITION BY m, g, b ORDER BY x) AS rg,"
            "  ROW_NUMBER() OVER (PARTITION BY m, b ORDER BY x) AS ra FROM d)"
            " SELECT t.m, t.g, t.b, t.r, k.x FROM t JOIN k ON k.m = t.m AND k.b = t.b"
            " AND ((t.g IS NULL AND k.ra = t.r) OR (t.g IS NOT NULL AND k.g = t.g AND k.rg = t.r))",
            [*wanted_params, *params],
        )
        return {
            RankTarget(Metric(int(m)), None if g is None else str(g), int(b), int(r)): float(x)
            for m, g, b, r, x in rows
        }

    def _paged(self, query: ReportQuery) -> tuple[str, list[Any]]:
        marks = ", ".join(["%s"] * len(query.paging_channels))
        return PAGED.format(channels=marks), [*query.paging_channels, query.since, query.until]

    def pages(self, query: ReportQuery) -> tuple[PageCount, ...]:
        """Pages per group and segment: an equality join on the UTC hour, then the segment's exact bounds."""
        if not query.paging_channels or not query.segments:
            return ()
        condition, params = self._paged(query)
        segments, segment_params = self._segments(query)
        hour = self._sql.whole
        if query.group_by is GroupBy.CHANNEL:
            group, source = "o.channel", "outbox o"
        else:
            group, source = f"a.{query.group_by.value}", "outbox o JOIN alerts a ON a.id = o.alert_id"
        rows = self._sql.run(
            self._conn,
            f"WITH seg AS MATERIALIZED ({segments}) "
            f"SELECT {group}, seg.i, COUNT(*) FROM {source} "
            f"JOIN seg ON seg.hour = {hour('o.delivered_at / 3600')}"
            " AND o.delivered_at >= seg.lo AND o.delivered_at < seg.hi "
            f"WHERE {condition} GROUP BY {group}, seg.i",
            [*segment_params, *params],
        )
        return tuple(PageCount(str(g), int(i), int(n)) for g, i, n in rows)

    def noisiest(self, query: ReportQuery) -> tuple[NoisyAlert, ...]:
        if not query.paging_channels:
            return ()
        condition, params = self._paged(query)
        rows = self._sql.run(
            self._conn,
            "SELECT a.alertname, a.service, COUNT(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "
            f"WHERE {condition} GROUP BY a.alertname, a.service",
            params,
        )
        return tuple(NoisyAlert(str(name), str(service), int(n)) for name, service, n in rows)

    def flapping(self, query: ReportQuery) -> FlappingRows:
        window = (query.since, query.until)
        rows = self._sql.run(
            self._conn,
            "WITH f AS (SELECT a.fingerprint, a.alertname, a.service, a.priority FROM alerts a"
            f"  WHERE {FIRST_SEEN_IN_WINDOW}"
            " UNION ALL SELECT a.fingerprint, a.alertname, a.service, a.priority FROM timeline t"
            "  JOIN alerts a ON a.id = t.alert_id WHERE t.kind = 'refired' AND t.at >= %s AND t.at < %s),"
            " c AS MATERIALIZED (SELECT fingerprint, MAX(alertname) AS alertname, MAX(service) AS service,"
            "  MAX(priority) AS priority, COUNT(*) AS cycles FROM f GROUP BY fingerprint)"
            " SELECT 1, fingerprint, alertname, service, priority, cycles, 0 FROM c WHERE cycles >= %s"
            " UNION ALL SELECT 0, '', '', '', '', COUNT(*), SUM(cycles) FROM c",  # how many fingerprints, all cycles
            [*window, *window, FLAPPING_CYCLES],
        )
        [(_, _, _, _, _, fired, cycles)] = [r for r in rows if r[0] == 0]
        return FlappingRows(
            tuple(FlappingAlert(str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5])) for r in rows if r[0] == 1),
            int(fired),
            int(cycles or 0),
        )
