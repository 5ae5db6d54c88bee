"""The alert-quality reports in SQL: one implementation for PostgreSQL and SQLite.

Definitions are in ``receiver.store.reports``. The dialects differ in three fragments only: how the
window's time segments reach the query (two float arrays through ``unnest`` on PostgreSQL, one JSON
array through ``json_each`` on SQLite), the hour a time falls in (``floor`` on PostgreSQL, where
``CAST`` rounds; ``CAST`` truncates on SQLite), and, on PostgreSQL, a ``REPEATABLE READ`` snapshot so
that every statement of a report sees the same history (SQLite's transaction already does).

Percentiles are nearest rank, computed with window functions that both dialects have:
p = the value whose rank (1-based, ascending) is ceil(p·n), in integer arithmetic ((n + 1) / 2 for
p50, (9n + 9) / 10 for p90), so both backends return the same recorded duration.

Indexes (migration 9): ``outbox_delivered`` (delivered jobs by ``delivered_at``, covering channel,
action and alert id) for pages; ``timeline_refired`` for re-fires; alerts by ``first_seen`` use
``alerts_first_seen`` (migration 1). docs/receiver.md explains the plans and their cost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from receiver.store.reports import (
    FLAPPING_CYCLES,
    AlertFigures,
    FlappingAlert,
    GroupBy,
    NoisyAlert,
    NotificationCount,
    PageCount,
    ReportQuery,
    ReportRows,
    Section,
    Spread,
)
from receiver.store.sql_repository import SqlRepository

# What an alert's fate was. Acknowledged means before it resolved: an acknowledgement of an alert that
# had already resolved is a review, not a response. The three partition the alerts.
ACKNOWLEDGED = "a.acked_at IS NOT NULL AND (a.resolved_at IS NULL OR a.acked_at <= a.resolved_at)"
RESOLVED_UNACKNOWLEDGED = "a.resolved_at IS NOT NULL AND (a.acked_at IS NULL OR a.acked_at > a.resolved_at)"
FIRING_UNACKNOWLEDGED = "a.resolved_at IS NULL AND a.acked_at IS NULL"
# Durations from when the receiver first saw the alert (as the API's timeToAckSeconds); never negative
# (an alert that arrived already resolved has an end before its first sighting: 0).
TIME_TO_ACK = "CASE WHEN a.acked_at > a.first_seen THEN a.acked_at - a.first_seen ELSE 0.0 END"
TIME_TO_RESOLVE = "CASE WHEN a.resolved_at > a.first_seen THEN a.resolved_at - a.first_seen ELSE 0.0 END"
FIRST_SEEN_IN_WINDOW = "a.first_seen >= %s AND a.first_seen < %s"
# A notification: a delivered trigger or escalation (resolves and PagerDuty acknowledgements tell
# people that something ended; they are not counted).
NOTIFIED = (
    "o.state = 'delivered' AND o.action IN ('trigger', 'escalate') AND o.delivered_at >= %s AND o.delivered_at < %s"
)
# An alert belongs to every channel it was notified on.
CHANNEL_MEMBERSHIP = (
    "alerts a JOIN (SELECT DISTINCT alert_id, channel FROM outbox"
    " WHERE state = 'delivered' AND action IN ('trigger', 'escalate')) n ON n.alert_id = a.id"
)


class SqlReports(SqlRepository):
    """``ReportReads`` over the alert-history database (the tables of ``SqlAlertHistory``)."""

    def report_rows(self, query: ReportQuery) -> ReportRows:
        window = (query.since, query.until)
        with self._tx() as conn:
            if self._postgres:  # one snapshot for every statement below; SQLite's transaction is one already
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            rows = ReportRows()
            if Section.ALERTS in query.sections:
                rows = self._alerts(conn, query, window)
            pages: tuple[PageCount, ...] = ()
            if Section.PAGES in query.sections and query.paging_channels and query.segments:
                pages = self._pages(conn, query)
            notifications: tuple[NotificationCount, ...] = ()
            if Section.NOTIFICATIONS in query.sections:
                group = "o.channel" if query.group_by is GroupBy.CHANNEL else f"a.{query.group_by.value}"
                notifications = tuple(
                    NotificationCount(str(g), str(channel), int(n))
                    for g, channel, n in self._run(
                        conn,
                        f"SELECT {group}, o.channel, COUNT(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "  # noqa: S608 - constant fragments
                        f"WHERE {NOTIFIED} GROUP BY {group}, o.channel",
                        window,
                    ).fetchall()
                )
            noisiest: tuple[NoisyAlert, ...] = ()
            if Section.NOISIEST in query.sections and query.paging_channels:
                noisiest = self._noisiest(conn, query)
            flapping: tuple[FlappingAlert, ...] = ()
            flapping_alerts = fired_alerts = 0
            if Section.FLAPPING in query.sections:
                flapping, flapping_alerts, fired_alerts = self._flapping(conn, window)
        return ReportRows(
            total=rows.total,
            groups=rows.groups,
            priorities=rows.priorities,
            pages=pages,
            notifications=notifications,
            noisiest=noisiest[: query.top],
            all_pages=sum(n.pages for n in noisiest),
            flapping=flapping[: query.top],
            flapping_alerts=flapping_alerts,
            fired_alerts=fired_alerts,
        )

    # --- alerts: counts, durations, re-fires ---

    def _alerts(self, conn: Any, query: ReportQuery, window: tuple[float, float]) -> ReportRows:
        by_priority = self._counts(conn, "a.priority", "alerts a", window)
        grouped = (
            by_priority
            if query.group_by is GroupBy.PRIORITY
            else self._counts(conn, self._group(query.group_by), self._from(query.group_by), window)
        )
        total = _counted([sum(getattr(c, f) for c in by_priority.values()) for f in _COUNT_FIELDS])
        group, source = self._group(query.group_by), self._from(query.group_by)
        acks = self._spreads(conn, group, source, ACKNOWLEDGED, TIME_TO_ACK, window)
        resolves = self._spreads(conn, group, source, "a.resolved_at IS NOT NULL", TIME_TO_RESOLVE, window)
        all_acks = self._spreads(conn, "''", "alerts a", ACKNOWLEDGED, TIME_TO_ACK, window).get("", Spread())
        all_resolves = self._spreads(conn, "''", "alerts a", "a.resolved_at IS NOT NULL", TIME_TO_RESOLVE, window)
        refired = dict(
            self._run(
                conn,
                f"SELECT {group}, COUNT(*) FROM {source} JOIN timeline t ON t.alert_id = a.id "  # noqa: S608 - constant fragments
                f"WHERE t.kind = 'refired' AND t.at >= %s AND t.at < %s GROUP BY {group}",
                window,
            ).fetchall()
        )
        all_refired = self._run(
            conn, "SELECT COUNT(*) FROM timeline t WHERE t.kind = 'refired' AND t.at >= %s AND t.at < %s", window
        ).fetchone()[0]
        names = sorted(set(grouped) | {str(g) for g in refired})
        groups = {
            name: replace(
                grouped.get(name, AlertFigures()),
                refired=int(refired.get(name, 0)),
                time_to_ack=acks.get(name, Spread()),
                time_to_resolve=resolves.get(name, Spread()),
            )
            for name in names
        }
        return ReportRows(
            total=replace(
                total,
                refired=int(all_refired),
                time_to_ack=all_acks,
                time_to_resolve=all_resolves.get("", Spread()),
            ),
            groups=groups,
            priorities=by_priority,
        )

    @staticmethod
    def _group(group_by: GroupBy) -> str:
        return "n.channel" if group_by is GroupBy.CHANNEL else f"a.{group_by.value}"

    @staticmethod
    def _from(group_by: GroupBy) -> str:
        return CHANNEL_MEMBERSHIP if group_by is GroupBy.CHANNEL else "alerts a"

    def _counts(self, conn: Any, group: str, source: str, window: tuple[float, float]) -> dict[str, AlertFigures]:
        rows = self._run(
            conn,
            f"SELECT {group}, COUNT(*), "  # noqa: S608 - constant fragments
            f"SUM(CASE WHEN {ACKNOWLEDGED} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {RESOLVED_UNACKNOWLEDGED} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {FIRING_UNACKNOWLEDGED} THEN 1 ELSE 0 END), "
            "SUM(a.escalations), SUM(CASE WHEN a.escalations > 0 THEN 1 ELSE 0 END) "
            f"FROM {source} WHERE {FIRST_SEEN_IN_WINDOW} GROUP BY {group}",
            window,
        ).fetchall()
        return {str(r[0]): _counted(r[1:]) for r in rows}

    def _spreads(
        self, conn: Any, group: str, source: str, condition: str, duration: str, window: tuple[float, float]
    ) -> dict[str, Spread]:
        rows = self._run(
            conn,
            f"WITH v AS (SELECT {group} AS g, {duration} AS x FROM {source} "  # noqa: S608 - constant fragments
            f" WHERE {FIRST_SEEN_IN_WINDOW} AND {condition}),"
            " r AS (SELECT g, x, ROW_NUMBER() OVER (PARTITION BY g ORDER BY x) AS rn,"
            "  COUNT(*) OVER (PARTITION BY g) AS n FROM v)"
            " SELECT g, MAX(n), MAX(CASE WHEN rn = (n + 1) / 2 THEN x END),"
            " MAX(CASE WHEN rn = (9 * n + 9) / 10 THEN x END), MAX(x) FROM r GROUP BY g",
            window,
        ).fetchall()
        return {str(g): Spread(int(n), float(p50), float(p90), float(top)) for g, n, p50, p90, top in rows}

    # --- pages ---

    def _page_filter(self, query: ReportQuery) -> tuple[str, list[Any]]:
        marks = ", ".join(["%s"] * len(query.paging_channels))
        return f"{NOTIFIED} AND o.channel IN ({marks})", [query.since, query.until, *query.paging_channels]

    def _pages(self, conn: Any, query: ReportQuery) -> tuple[PageCount, ...]:
        """Pages per group and segment: an equality join on the UTC hour, then the segment's exact bounds."""
        group = "o.channel" if query.group_by is GroupBy.CHANNEL else f"a.{query.group_by.value}"
        condition, params = self._page_filter(query)
        if self._postgres:
            segments = (
                "SELECT (i - 1)::int, lo, hi, floor(lo / 3600) FROM unnest(%s::float8[], %s::float8[])"
                " WITH ORDINALITY AS s(lo, hi, i)"
            )
            segment_params: list[Any] = [[s[0] for s in query.segments], [s[1] for s in query.segments]]
            hour = "floor(o.delivered_at / 3600)"
        else:
            segments = (
                "SELECT CAST(key AS INTEGER), json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
                " CAST(json_extract(value, '$[0]') / 3600 AS INTEGER) FROM json_each(%s)"
            )
            segment_params = [json.dumps([[int(lo), int(hi)] for lo, hi in query.segments])]
            hour = "CAST(o.delivered_at / 3600 AS INTEGER)"
        rows = self._run(
            conn,
            f"WITH seg(i, lo, hi, hour) AS MATERIALIZED ({segments}) "  # noqa: S608 - constant fragments
            f"SELECT {group}, seg.i, COUNT(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "
            f"JOIN seg ON seg.hour = {hour} AND o.delivered_at >= seg.lo AND o.delivered_at < seg.hi "
            f"WHERE {condition} GROUP BY {group}, seg.i",
            [*segment_params, *params],
        ).fetchall()
        return tuple(PageCount(str(g), int(i), int(n)) for g, i, n in rows)

    def _noisiest(self, conn: Any, query: ReportQuery) -> tuple[NoisyAlert, ...]:
        """Every alert (name and service) with its pages, most first; ties by name, as Python orders text."""
        condition, params = self._page_filter(query)
        rows = self._run(
            conn,
            "SELECT a.alertname, a.service, COUNT(*) FROM outbox o JOIN alerts a ON a.id = o.alert_id "  # noqa: S608 - constant fragments
            f"WHERE {condition} GROUP BY a.alertname, a.service",
            params,
        ).fetchall()
        return tuple(sorted((NoisyAlert(str(a), str(s), int(n)) for a, s, n in rows), key=_noisiest_first))

    # --- flapping ---

    def _flapping(self, conn: Any, window: tuple[float, float]) -> tuple[tuple[FlappingAlert, ...], int, int]:
        """The fingerprints with FLAPPING_CYCLES or more cycles (most first), how many there are, and how
        many fingerprints started firing at all."""
        cycles = (
            "WITH f AS (SELECT a.fingerprint, a.alertname, a.service, a.priority FROM alerts a"  # noqa: S608 - constant fragments
            f"  WHERE {FIRST_SEEN_IN_WINDOW}"
            " UNION ALL SELECT a.fingerprint, a.alertname, a.service, a.priority FROM timeline t"
            "  JOIN alerts a ON a.id = t.alert_id WHERE t.kind = 'refired' AND t.at >= %s AND t.at < %s),"
            " c AS (SELECT fingerprint, MAX(alertname) AS alertname, MAX(service) AS service,"
            "  MAX(priority) AS priority, COUNT(*) AS cycles FROM f GROUP BY fingerprint)"
        )
        rows = self._run(
            conn,
            f"{cycles} SELECT 1, fingerprint, alertname, service, priority, cycles FROM c WHERE cycles >= %s"  # noqa: S608 - constant fragments
            " UNION ALL SELECT 0, '', '', '', '', COUNT(*) FROM c",  # how many fingerprints fired at all
            [*window, *window, FLAPPING_CYCLES],
        ).fetchall()
        fired = sum(int(r[5]) for r in rows if r[0] == 0)
        flapping = sorted(
            (FlappingAlert(str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5])) for r in rows if r[0] == 1),
            key=lambda f: (-f.cycles, f.alertname, f.service, f.fingerprint),
        )
        return tuple(flapping), len(flapping), fired


_COUNT_FIELDS = (
    "alerts",
    "acknowledged",
    "resolved_unacknowledged",
    "firing_unacknowledged",
    "escalations",
    "deadlines_missed",
)


def _counted(values: Sequence[Any]) -> AlertFigures:
    alerts, acknowledged, resolved_unacknowledged, firing_unacknowledged, escalations, missed = map(int, values)
    return AlertFigures(
        alerts=alerts,
        acknowledged=acknowledged,
        resolved_unacknowledged=resolved_unacknowledged,
        firing_unacknowledged=firing_unacknowledged,
        escalations=escalations,
        deadlines_missed=missed,
    )


def _noisiest_first(alert: NoisyAlert) -> tuple[int, str, str]:
    return (-alert.pages, alert.alertname, alert.service)
