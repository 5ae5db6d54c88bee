"""The alert-quality reports in SQL: one implementation for PostgreSQL and SQLite.

Definitions are in ``receiver.store.reports``. The reports read facts the database keeps with the rows
(migration 13, receiver/store/migrations.py): each alert's ``ack_state``, ``time_to_ack``,
``time_to_resolve`` and their histogram buckets ``ack_bucket`` and ``resolve_bucket`` are columns of
``alerts`` (computed by a trigger when an alert is acknowledged or resolved on PostgreSQL, virtual generated
columns on SQLite); a delivered notification carries its alert's ``priority``, ``service`` and ``alertname``,
a re-fire those and the ``fingerprint``, copied by triggers. So no statement here spells a definition out,
and none looks an alert up for a page or a re-fire.

The dialects differ in small fragments only: how a list reaches a query (arrays through ``unnest`` on
PostgreSQL, one JSON array through ``json_each`` on SQLite), rounding down to an integer (``floor`` on
PostgreSQL, where ``CAST`` rounds to nearest; ``CAST`` truncates on SQLite, and every value rounded here is
positive), and, on PostgreSQL, the report's transaction settings: a ``REPEATABLE READ, READ ONLY`` snapshot
(SQLite's transaction is one already), ``work_mem`` for the hash tables, no merge joins, no JIT (compiling
the expressions cost more than it saved).

What each read costs (docs/receiver.md, "Alert-quality reports"):

- ``alerts``: one statement of separate aggregations, each a single pass over its rows and none joined to
  another: the window's alerts per group, state and resolve bucket (a hash aggregation over the table); the
  acknowledged ones per group and ack bucket (index-only, ``alerts_time_to_ack``); the window's re-fires per
  group (index-only, ``timeline_refired``); counts per priority when the groups are not the priorities;
  the window's incidents per group (``incidents_opened_at``; their probable cause looked up by id, or by
  channel their notifications through ``outbox_incident_channel``);
  the window's pages per group and UTC hour (index-only, ``outbox_notified``; see ``PageRead``);
- ``ranked``: the window's alerts in the buckets holding a wanted rank (index-only, ``alerts_time_to_ack``
  and ``alerts_time_to_resolve``): a few thousand at a million alerts, numbered in order;
- by channel (overlapping groups), the window's alerts joined to their channels once (``CHANNEL_FACTS``).
"""

# ruff: noqa: S608 - SQL built from constant fragments of this module; every value is a bound parameter

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
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


class Row(IntEnum):
    """What a row of ``SqlReportSnapshot.alerts`` holds: (kind, group, state, bucket, hour or segment, count,
    escalations, deadlines missed, shortest, longest); the columns a kind has no use for are NULL."""

    COUNTS = 0  # per group, state and resolve bucket: counts and the time-to-resolve histogram
    ACKNOWLEDGED = 1  # per group and ack bucket: the time-to-acknowledge histogram
    PAGES_BY_HOUR = 2  # per group and UTC hour
    REFIRES = 3  # per group
    PAGES_BY_SEGMENT = 4  # per group and segment, of the hours cut into several
    PRIORITIES = 5  # per priority and state: counts
    INCIDENTS = 6  # per group: incidents opened in the window


FIRST_SEEN_IN_WINDOW = "a.first_seen >= %s AND a.first_seen < %s"
# A page: a delivered trigger or escalation on a paging channel (resolves and PagerDuty acknowledgements
# tell people that something ended). The first two terms are outbox_notified's condition.
PAGED = (
    "o.state = 'delivered' AND o.action IN ('trigger', 'escalate') AND o.channel IN ({channels})"
    " AND o.delivered_at >= %s AND o.delivered_at < %s"
)
# An alert belongs to every channel it was notified on. By channel, the window's alerts are joined to the
# (alert, channel) pairs once, into a CTE ``v`` with the alert's facts that each aggregation reads as ``a``; the
# few alerts that ``ranked`` reads and the re-fires look their notifications up by alert.
NOTIFIED = "n.state = 'delivered' AND n.action IN ('trigger', 'escalate')"
CHANNEL_FACTS = (
    "v AS MATERIALIZED (SELECT n.channel, a.id, a.first_seen, a.ack_state, a.resolve_bucket, a.time_to_resolve,"
    " a.ack_bucket, a.time_to_ack, a.escalations FROM alerts a"
    f" JOIN (SELECT DISTINCT n.alert_id, n.channel FROM outbox n WHERE {NOTIFIED}) n ON n.alert_id = a.id"
    f" WHERE {FIRST_SEEN_IN_WINDOW})"
)
# An incident of the window: opened in it, and not merged into another (it never paged on its own).
OPENED_IN_WINDOW = "i.opened_at >= %s AND i.opened_at < %s AND i.status <> 'merged'"
# Per metric: its histogram bucket and duration columns (of alerts, migration 13).
DURATION_COLUMNS = {
    Metric.TIME_TO_ACK: ("a.ack_bucket", "a.time_to_ack"),
    Metric.TIME_TO_RESOLVE: ("a.resolve_bucket", "a.time_to_resolve"),
}


def paged_condition(query: ReportQuery) -> tuple[str, list[Any]]:
    marks = ", ".join(["%s"] * len(query.paging_channels))
    return PAGED.format(channels=marks), [*query.paging_channels, query.since, query.until]


@dataclass(frozen=True)
class PageRead:
    """The window's pages per group and segment of local time, as rows of ``SqlReportSnapshot.alerts``.

    Segments lie each inside one UTC hour (receiver.reports.working_time): most hours are one segment (in
    Asia/Seoul with working hours on the hour, every hour of the window is). Pages are counted per group and
    UTC hour, which an hour of one segment gives to it; the hours cut into several segments (a zone half an
    hour off UTC, working hours from 09:30) have their pages matched to the segment's exact bounds (an
    equality join on the hour, then the bounds). The group is the job's own column, copied from its alert
    when it was delivered."""

    selects: tuple[str, ...]
    params: tuple[Any, ...]
    cte: tuple[str, list[Any]]  # ("seg AS (...)", its parameters) when some hours are cut
    whole_hours: dict[int, int]  # UTC hour -> the one segment it is
    cut_hours: frozenset[int]

    @classmethod
    def of(cls, sql: SqlReports, query: ReportQuery) -> PageRead:
        by_hour: dict[int, list[int]] = {}
        for i, (start, _) in enumerate(query.segments):
            by_hour.setdefault(int(start // 3600), []).append(i)
        whole = {hour: segments[0] for hour, segments in by_hour.items() if len(segments) == 1}
        cut = frozenset(by_hour) - frozenset(whole)
        group = f"o.{query.group_by.value}"
        condition, params = paged_condition(query)
        hour = sql.utc_hour("o.delivered_at")
        selects = [
            f"SELECT {Row.PAGES_BY_HOUR.value}, {group}, NULL, {hour}, COUNT(*), NULL, NULL, NULL, NULL FROM outbox o"
            f" WHERE {condition} GROUP BY 2, 4"
        ]
        cte: tuple[str, list[Any]] = ("", [])
        if cut:
            rows, cte_params = sql.rows_of(
                ("i", "lo", "hi", "hour"),
                ("int4", "float8", "float8", "int8"),
                [
                    (i, int(lo), int(hi), int(lo // 3600))
                    for i, (lo, hi) in enumerate(query.segments)
                    if lo // 3600 in cut
                ],
            )
            cte = (f"seg AS ({rows})", cte_params)
            selects.append(
                f"SELECT {Row.PAGES_BY_SEGMENT.value}, {group}, NULL, seg.i, COUNT(*), NULL, NULL, NULL, NULL"
                " FROM outbox o"
                f" JOIN seg ON seg.hour = {hour} AND o.delivered_at >= seg.lo AND o.delivered_at < seg.hi"
                f" WHERE {condition} GROUP BY 2, 4"
            )
            params = [*params, *params]  # the same condition again
        return cls(tuple(selects), tuple(params), cte, whole, cut)

    def counts(self, kind: int, group: str, key: int, pages: int) -> tuple[PageCount, ...]:
        """A row's pages by segment: ``key`` is the UTC hour or the segment."""
        if kind == Row.PAGES_BY_SEGMENT:
            return (PageCount(group, key, pages),)
        if key in self.cut_hours:  # counted by segment in their rows
            return ()
        return (PageCount(group, self.whole_hours[key], pages),)


class SqlReports(SqlRepository):
    """``ReportReads`` over the alert-history database (the tables of ``SqlAlertHistory``)."""

    @contextmanager
    def snapshot(self) -> Iterator[SqlReportSnapshot]:
        with self._tx() as conn:
            if self._postgres:  # one snapshot for every read; SQLite's transaction is one already
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                conn.execute("SET LOCAL work_mem = '64MB'")  # the histograms' hash tables, without spilling
                # Materialised CTEs carry no statistics: a merge join would sort the pages where hashing the
                # segments (a few thousand) is what they need.
                conn.execute("SET LOCAL enable_mergejoin = off")
                conn.execute("SET LOCAL jit = off")
            yield SqlReportSnapshot(self, conn)

    # --- dialect fragments ---

    def whole(self, expression: str) -> str:
        """``expression`` (>= 0) rounded down to an integer."""
        return f"CAST(floor({expression}) AS BIGINT)" if self._postgres else f"CAST({expression} AS INTEGER)"

    def utc_hour(self, epoch: str) -> str:
        """The UTC hour (epoch seconds // 3600) of ``epoch`` (>= 0), exactly: the division may round a time a
        hair before an hour mark up to it, which the comparison takes back (``hour * 3600`` is exact)."""
        hour = self.whole(f"{epoch} / 3600")
        return f"({hour} - CASE WHEN {epoch} < {hour} * 3600 THEN 1 ELSE 0 END)"

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
    def _grouping(query: ReportQuery) -> tuple[str, str]:
        """(the group's expression, the alerts it ranges over): by channel, ``CHANNEL_FACTS``."""
        if query.group_by is GroupBy.CHANNEL:
            return "a.channel", "v a"
        return f"a.{query.group_by.value}", "alerts a"

    def alerts(self, query: ReportQuery, *, pages: bool = False) -> AlertRows:
        """One statement of separate aggregations (``Row``), each a single pass over its rows and none joined to
        another. Counts per priority are an aggregation of their own unless the groups are the priorities (or
        overlap, by channel): as a key of the histogram's, the priority would multiply its groups."""
        group, source = self._grouping(query)
        window = [query.since, query.until]
        missed = "SUM(CASE WHEN a.escalations > 0 THEN 1 ELSE 0 END)"
        selects = [
            f"SELECT {Row.COUNTS.value}, {group}, a.ack_state, a.resolve_bucket, COUNT(*), SUM(a.escalations),"
            f" {missed}, MIN(a.time_to_resolve), MAX(a.time_to_resolve)"
            f" FROM {source} WHERE {FIRST_SEEN_IN_WINDOW} GROUP BY 2, 3, 4",
            f"SELECT {Row.ACKNOWLEDGED.value}, {group}, NULL, a.ack_bucket, COUNT(*), NULL, NULL, MIN(a.time_to_ack),"
            f" MAX(a.time_to_ack) FROM {source} WHERE {FIRST_SEEN_IN_WINDOW} AND a.ack_bucket IS NOT NULL"
            " GROUP BY 2, 4",
            self._refired(query),
            self._incidents(query),
        ]
        params: list[Any] = [*window, *window, *window, *window]
        if query.group_by not in (GroupBy.PRIORITY, GroupBy.CHANNEL):
            selects.append(
                f"SELECT {Row.PRIORITIES.value}, a.priority, a.ack_state, NULL, COUNT(*), SUM(a.escalations),"
                f" {missed}, NULL, NULL FROM alerts a WHERE {FIRST_SEEN_IN_WINDOW} GROUP BY 2, 3"
            )
            params += window
        ctes, cte_params = ([CHANNEL_FACTS], window) if query.group_by is GroupBy.CHANNEL else ([], list[Any]())
        paged = PageRead.of(self._sql, query) if pages and query.paging_channels and query.segments else None
        if paged is not None:
            selects += paged.selects
            params += paged.params
            if paged.cte[0]:
                ctes.append(paged.cte[0])
                cte_params += paged.cte[1]
        with_ctes = f"WITH {', '.join(ctes)} " if ctes else ""
        rows = self._sql.run(self._conn, f"{with_ctes}{' UNION ALL '.join(selects)}", [*cte_params, *params])
        refired: dict[str, int] = {}
        incidents: dict[str, int] = {}
        page_counts: list[PageCount] = []
        durations: list[DurationBucket] = []
        # (group, state) -> [alerts, escalations, deadlines missed], summed over the resolve buckets
        counted: dict[int, dict[tuple[str, int], list[int]]] = {Row.COUNTS: {}, Row.PRIORITIES: {}}
        for kind, g, s, b, n, e, m, low, high in rows:
            if kind in counted:
                sums = counted[kind].setdefault((str(g), int(s)), [0, 0, 0])
                sums[0], sums[1], sums[2] = sums[0] + int(n), sums[1] + int(e), sums[2] + int(m)
                if kind == Row.COUNTS and b is not None:
                    durations.append(
                        DurationBucket(Metric.TIME_TO_RESOLVE, str(g), int(b), int(n), float(low), float(high))
                    )
            elif kind == Row.ACKNOWLEDGED:
                durations.append(DurationBucket(Metric.TIME_TO_ACK, str(g), int(b), int(n), float(low), float(high)))
            elif kind == Row.REFIRES:
                refired[str(g)] = int(n)
            elif kind == Row.INCIDENTS:
                incidents[str(g)] = int(n)
            elif paged is not None:
                page_counts.extend(paged.counts(kind, str(g), int(b), int(n)))
        counts, priorities = (
            tuple(AlertCount(g, AckState(s), n, e, m) for (g, s), (n, e, m) in counted[kind].items())
            for kind in (Row.COUNTS, Row.PRIORITIES)
        )
        if query.group_by is GroupBy.PRIORITY:
            priorities = counts
        return AlertRows(counts, tuple(durations), refired, tuple(page_counts), priorities, incidents)

    @staticmethod
    def _incidents(query: ReportQuery) -> str:
        """The window's incidents per group: their own priority, their probable cause's service or alert name
        (an incident whose cause is gone from the history is in the group ''); by channel, once per channel
        they were notified on."""
        group, source, incidents = "i.priority", "incidents i", "COUNT(*)"
        if query.group_by in (GroupBy.SERVICE, GroupBy.ALERTNAME):
            group = f"COALESCE(a.{query.group_by.value}, '')"
            source = "incidents i LEFT JOIN alerts a ON a.id = i.cause_alert_id"
        elif query.group_by is GroupBy.CHANNEL:
            group, incidents = "n.channel", "COUNT(DISTINCT i.id)"
            source = f"incidents i JOIN outbox n ON n.incident_id = i.id AND {NOTIFIED}"
        return (
            f"SELECT {Row.INCIDENTS.value}, {group}, NULL, NULL, {incidents}, NULL, NULL, NULL, NULL FROM {source}"
            f" WHERE {OPENED_IN_WINDOW} GROUP BY 2"
        )

    @staticmethod
    def _refired(query: ReportQuery) -> str:
        """The window's re-fires per group, counted when they happened whenever their alert was first seen: the
        entry's own group (copied from its alert when it was written); by channel, once per channel its alert
        was notified on."""
        refired = "t.kind = 'refired' AND t.at >= %s AND t.at < %s"
        group, source, refires = f"t.{query.group_by.value}", "timeline t", "COUNT(*)"
        if query.group_by is GroupBy.CHANNEL:
            group, refires = "n.channel", "COUNT(DISTINCT t.id)"
            source = f"timeline t JOIN outbox n ON n.alert_id = t.alert_id AND {NOTIFIED}"
        return (
            f"SELECT {Row.REFIRES.value}, {group}, NULL, NULL, {refires}, NULL, NULL, NULL, NULL FROM {source}"
            f" WHERE {refired} GROUP BY 2"
        )

    def pages(self, query: ReportQuery) -> tuple[PageCount, ...]:
        if not query.paging_channels or not query.segments:
            return ()
        paged = PageRead.of(self._sql, query)
        cte, cte_params = paged.cte
        with_cte = f"WITH {cte} " if cte else ""
        rows = self._sql.run(self._conn, f"{with_cte}{' UNION ALL '.join(paged.selects)}", [*cte_params, *paged.params])
        return tuple(count for r in rows for count in paged.counts(int(r[0]), str(r[1]), int(r[3]), int(r[4])))

    def ranked(self, query: ReportQuery, targets: Sequence[RankTarget]) -> dict[RankTarget, float]:
        """Through the bucket indexes: only the window's alerts in a wanted bucket are read, then numbered
        within their bucket: per group, and across groups for the targets of all alerts."""
        if not targets:
            return {}
        group, source = self._grouping(query)
        distinct = ""
        if query.group_by is GroupBy.CHANNEL:  # the few alerts read here: their notifications looked up by alert
            group, source = "n.channel", f"alerts a JOIN outbox n ON n.alert_id = a.id AND {NOTIFIED}"
            distinct = "DISTINCT "
        wanted, wanted_params = self._sql.rows_of(
            ("m", "g", "b", "r"),
            ("int4", "text", "int8", "int8"),
            [(t.metric.value, t.group, t.bucket, t.rank) for t in targets],
        )
        parts, params = [], []
        for metric, (bucket, duration) in DURATION_COLUMNS.items():
            buckets = sorted({t.bucket for t in targets if t.metric is metric})
            if not buckets:
                continue
            parts.append(
                f"SELECT {distinct}{metric.value} AS m, a.id, {group} AS g, {bucket} AS b, {duration} AS x"
                f" FROM {source} WHERE {bucket} IN ({', '.join(['%s'] * len(buckets))}) AND {FIRST_SEEN_IN_WINDOW}"
            )
            params += [*buckets, query.since, query.until]
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

    def noisiest(self, query: ReportQuery) -> tuple[NoisyAlert, ...]:
        if not query.paging_channels:
            return ()
        condition, params = paged_condition(query)
        rows = self._sql.run(
            self._conn,
            f"SELECT o.alertname, o.service, COUNT(*) FROM outbox o WHERE {condition} GROUP BY 1, 2",
            params,
        )
        return tuple(NoisyAlert(str(name), str(service), int(n)) for name, service, n in rows)

    def flapping(self, query: ReportQuery) -> FlappingRows:
        window = (query.since, query.until)
        rows = self._sql.run(
            self._conn,
            "WITH f AS (SELECT a.fingerprint, a.alertname, a.service, a.priority FROM alerts a"
            f"  WHERE {FIRST_SEEN_IN_WINDOW}"
            " UNION ALL SELECT t.fingerprint, t.alertname, t.service, t.priority FROM timeline t"
            "  WHERE t.kind = 'refired' AND t.at >= %s AND t.at < %s),"
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
