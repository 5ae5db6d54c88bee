"""Alert-quality reports over a 90-day history of 1,000,000 alerts in PostgreSQL, against ``count(*)``.

A scratch database gets the receiver's schema (its migrations), then a generated history loaded with
``COPY``: 1,000,000 alerts over 90 days (priorities 5 % critical, 20 % high, 35 % medium, 40 % low;
12 services, 40 alert names, 20,000 fingerprints with a few very noisy ones; acknowledgements,
resolutions, escalations and re-fires at plausible rates), every alert's outbox jobs on the default
policy's channels (triggers, resolves, escalations; a few dead-lettered with their fallback) and its
timeline (received, notified, acknowledged, escalated, resolved, refired). Then ``VACUUM ANALYZE``.

Measured, interleaved round by round, medians of 5: the summary (``GET /api/v1/reports/summary``'s
work, grouped by priority: counts, exact percentiles, re-fires, pages per segment of Seoul time) and
the full report (the console page's: also the noisiest and the flapping alerts) over the whole 90
days, against ``SELECT count(*)`` of the same alerts on the same pool. The machine's load average is
printed with the figures (a shared machine). ``BENCH_REPORT_ALERTS`` scales it down for a quick look.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from bench.report import Result
from bench.rounds import Figures
from receiver.config.routing import DEFAULT_PRIORITIES, Priority, RoutingPolicy
from receiver.reports.figures import EVERYTHING, SUMMARY, read_report
from receiver.reports.parameters import ReportRequest
from receiver.store.database import PostgresDatabase
from receiver.store.reports import GroupBy, Section
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests.services import postgres_uri

ALERTS = int(os.environ.get("BENCH_REPORT_ALERTS", "1000000"))
DAYS = 90
ROUNDS = 5
END = 1_772_409_600.0  # 2026-03-02 00:00 UTC
PRIORITIES = (("critical", 0.05), ("high", 0.20), ("medium", 0.35), ("low", 0.40))
ACK = {"critical": (0.85, 240.0), "high": (0.70, 1200.0), "medium": (0.30, 10800.0), "low": (0.05, 43200.0)}
SERVICES = tuple(f"service-{n:02d}" for n in range(12))
NAMES = tuple(f"Alert{n:02d}" for n in range(40))
FINGERPRINTS = 20_000


@contextmanager
def scratch_database() -> Iterator[str]:
    server = postgres_uri()
    name = f"bench_reports_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class History:
    """The generated rows, one alert at a time: its alert row, outbox jobs and timeline entries."""

    def __init__(self, count: int, seed: int = 7) -> None:
        self.count = count
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
        # A few fingerprints fire very often (Zipf-like): the flapping and noisy ones.
        total, self.cumulative = 0.0, []
        for rank in range(FINGERPRINTS):
            total += 1.0 / (rank + 1) ** 0.8
            self.cumulative.append(total)

    def rows(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        rng = self.rng
        fingerprints = rng.choices(range(FINGERPRINTS), cum_weights=self.cumulative, k=self.count)
        for alert_id, fp in enumerate(fingerprints, start=1):
            priority = _priority(fp)
            name, service = NAMES[fp % len(NAMES)], SERVICES[fp % len(SERVICES)]
            first_seen = END - DAYS * 86400 * rng.random()
            policy = DEFAULT_PRIORITIES[Priority(priority)]
            acked_at = resolved_at = None
            chance, mean = ACK[priority]
            if rng.random() < chance:
                acked_at = first_seen + rng.expovariate(1 / mean)
            if rng.random() < 0.97:
                resolved_at = first_seen + rng.expovariate(1 / 1800.0)
            deadline = policy.ack_deadline
            escalations = 0
            if deadline is not None and (acked_at or resolved_at or END) - first_seen > deadline:
                escalations = 1 + int(rng.random() < 0.2)
            labels = json.dumps({"alertname": name, "priority": priority, "service": service, "instance": f"i-{fp}"})
            annotations = json.dumps({"summary": f"{name} on {service}", "runbook_url": f"https://runbooks/{name}"})
            alert = (
                alert_id,
                f"fp{fp:06d}",
                first_seen - 60,
                name,
                "firing" if resolved_at is None else "resolved",
                priority,
                False,
                service,
                labels,
                annotations,
                f"h{fp}",
                "http://prometheus/graph",
                first_seen,
                resolved_at or first_seen,
                resolved_at,
                acked_at,
                None if acked_at is None else "oncall",
                None,
                escalations,
            )
            jobs: list[tuple[Any, ...]] = []
            entries: list[tuple[Any, ...]] = [(alert_id, first_seen, "received", None, None, "firing")]
            for channel in policy.channels:
                at = first_seen + rng.random() * 5
                state = "dead" if rng.random() < 0.01 else "delivered"
                jobs.append(_job(alert_id, channel, "trigger", state, at, None if state == "dead" else at + 1))
                entries.append(
                    (alert_id, at + 1, "notified" if state == "delivered" else "dead_letter", channel, None, "trigger")
                )
                if state == "dead":  # its fallback
                    jobs.append(_job(alert_id, "email", "trigger", "delivered", at + 2, at + 3, fallback=True))
            for n in range(escalations):
                at = first_seen + (deadline or 0) * (n + 1)
                entries.append((alert_id, at, "escalated", None, None, f"escalation {n + 1}"))
                for channel in policy.escalation:
                    jobs.append(_job(alert_id, channel, "escalate", "delivered", at, at + 2))
            if acked_at is not None:
                entries.append((alert_id, acked_at, "acknowledged", None, "oncall", ""))
            if resolved_at is not None:
                entries.append((alert_id, resolved_at + 30, "resolved", None, None, "resolved by Alertmanager"))
                for channel in policy.channels:
                    jobs.append(_job(alert_id, channel, "resolve", "delivered", resolved_at + 30, resolved_at + 31))
                if rng.random() < 0.03:  # fired again after resolving (same startsAt)
                    entries.append((alert_id, resolved_at + 300, "refired", None, None, "fired again after resolving"))
            yield alert, jobs, entries


def _job(
    alert_id: int, channel: str, action: str, state: str, at: float, delivered: float | None, *, fallback: bool = False
) -> tuple[Any, ...]:
    """An outbox row: (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at,
    next_attempt_at, delivered_at)."""
    return (alert_id, channel, action, state, 1, 5, fallback, at, at, delivered)


def _priority(fp: int) -> str:
    """The fingerprint's priority: stable per fingerprint, in the PRIORITIES proportions."""
    slot = (fp * 2654435761 % 2**32) / 2**32
    cumulative = 0.0
    for name, share in PRIORITIES:
        cumulative += share
        if slot < cumulative:
            return name
    return PRIORITIES[-1][0]


def _tsv(row: tuple[Any, ...]) -> str:
    """One line of COPY's text format (the generated values hold no tab, newline or backslash)."""
    return "\t".join("\\N" if v is None else str(v) for v in row) + "\n"


ALERT_COLUMNS = (
    "id, fingerprint, starts_at, alertname, status, priority, priority_defaulted, service, labels, annotations, "
    "content_hash, generator_url, first_seen, last_seen, resolved_at, acked_at, acked_by, escalate_at, escalations"
)


def load(uri: str, count: int) -> None:
    """COPY the alerts, and meanwhile write their jobs and timeline entries to files, then COPY those
    (they reference the alerts, so they go in after them)."""
    with (
        tempfile.TemporaryFile("w+") as jobs_file,
        tempfile.TemporaryFile("w+") as entries_file,
        psycopg.connect(uri) as conn,
        conn.cursor() as cur,
    ):
        with cur.copy(f"COPY alerts ({ALERT_COLUMNS}) FROM STDIN") as alerts:
            for alert, jobs, entries in History(count).rows():
                alerts.write_row(alert)
                jobs_file.writelines(_tsv(j) for j in jobs)
                entries_file.writelines(_tsv(e) for e in entries)
        for table, columns, source in (
            (
                "outbox",
                "alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, next_attempt_at,"
                " delivered_at",
                jobs_file,
            ),
            ("timeline", "alert_id, at, kind, channel, actor, detail", entries_file),
        ):
            source.seek(0)
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run() -> list[Result]:
    with scratch_database() as uri:
        database = PostgresDatabase(uri)
        try:
            SqlAlertHistory(database).migrate()
            started = time.perf_counter()
            load(uri, ALERTS)
            loaded = time.perf_counter() - started
            reports = SqlReports(database)
            policy = RoutingPolicy()
            since, until = END - DAYS * 86400, END
            request = ReportRequest(since, until, GroupBy.PRIORITY)

            def count() -> None:
                with database.connect() as conn:
                    conn.execute(
                        "SELECT count(*) FROM alerts WHERE first_seen >= %s AND first_seen < %s", (since, until)
                    )

            def summary(sections: frozenset[Section]) -> Callable[[], object]:
                return lambda: read_report(reports, request, policy, sections)

            checked = read_report(reports, request, policy, EVERYTHING)
            assert checked.total.alerts.alerts == ALERTS, checked.total.alerts.alerts
            timings: dict[str, list[float]] = {"count": [], "summary": [], "full": []}
            for _ in range(ROUNDS):  # interleaved: each round measures all three on the same warm cache
                timings["count"].append(_seconds(count))
                timings["summary"].append(_seconds(summary(SUMMARY)))
                timings["full"].append(_seconds(summary(EVERYTHING)))
        finally:
            database.close()
    base = Figures(tuple(s * 1000 for s in timings["count"]))
    busy = os.getloadavg()[0]
    print(f"reports: loaded {ALERTS:,} alerts with jobs and timelines in {loaded:.0f} s; {checked.all_pages:,} pages")
    print(
        f"reports: summary {[round(t * 1000) for t in timings['summary']]} ms, count(*) "
        f"{[round(t * 1000) for t in timings['count']]} ms; load average {busy:.1f} on {os.cpu_count()} cores"
    )
    return [
        Result(
            f"alert-quality summary over {ALERTS:,} alerts, 90 days (PG)",
            Figures(tuple(s * 1000 for s in timings["summary"])),
            "ms",
            "count(*) of the same alerts",
            base,
            "< 2000 ms",
        ),
        Result(
            f"alert-quality full report (+ noisiest, flapping) over {ALERTS:,} alerts (PG)",
            Figures(tuple(s * 1000 for s in timings["full"])),
            "ms",
            "count(*) of the same alerts",
            base,
        ),
    ]


if __name__ == "__main__":
    from bench.report import render

    print(render(run()))
