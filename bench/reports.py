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
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from bench.report import RESULTS, Result, render, write
from bench.rounds import Samples, interleave
from receiver.config.routing import DEFAULT_PRIORITIES, Priority, RoutingPolicy
from receiver.reports.figures import EVERYTHING, SUMMARY, read_report
from receiver.reports.parameters import ReportRequest
from receiver.store.database import PostgresDatabase
from receiver.store.migrations import REPORT_FACTS_SCHEMA
from receiver.store.reports import GroupBy, Section
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests.alert_quality import observation
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
            group = (priority, service, name)  # what the database copies onto a page or a re-fire (migration 13)
            entries: list[tuple[Any, ...]] = [(alert_id, first_seen, "received", None, None, "firing")]
            for channel in policy.channels:
                at = first_seen + rng.random() * 5
                state = "dead" if rng.random() < 0.01 else "delivered"
                jobs.append(_job(alert_id, channel, "trigger", state, at, None if state == "dead" else at + 1, group))
                entries.append(
                    (alert_id, at + 1, "notified" if state == "delivered" else "dead_letter", channel, None, "trigger")
                )
                if state == "dead":  # its fallback
                    jobs.append(_job(alert_id, "email", "trigger", "delivered", at + 2, at + 3, group, fallback=True))
            for n in range(escalations):
                at = first_seen + (deadline or 0) * (n + 1)
                entries.append((alert_id, at, "escalated", None, None, f"escalation {n + 1}"))
                for channel in policy.escalation:
                    jobs.append(_job(alert_id, channel, "escalate", "delivered", at, at + 2, group))
            if acked_at is not None:
                entries.append((alert_id, acked_at, "acknowledged", None, "oncall", ""))
            if resolved_at is not None:
                entries.append((alert_id, resolved_at + 30, "resolved", None, None, "resolved by Alertmanager"))
                for channel in policy.channels:
                    jobs.append(
                        _job(alert_id, channel, "resolve", "delivered", resolved_at + 30, resolved_at + 31, group)
                    )
                if rng.random() < 0.03:  # fired again after resolving (same startsAt)
                    refire = (alert_id, resolved_at + 300, "refired", None, None, "fired again after resolving")
                    entries.append((*refire, f"fp{fp:06d}", *group))
            yield alert, jobs, entries


def _job(
    alert_id: int,
    channel: str,
    action: str,
    state: str,
    at: float,
    delivered: float | None,
    group: tuple[str, str, str],
    *,
    fallback: bool = False,
) -> tuple[Any, ...]:
    """An outbox row: (alert_id, channel, action, state, attempts, max_attempts, fallback, created_at,
    next_attempt_at, delivered_at, priority, service, alertname); the last three on a delivered trigger or
    escalation."""
    copied = group if delivered is not None and action in ("trigger", "escalate") else (None, None, None)
    return (alert_id, channel, action, state, 1, 5, fallback, at, at, delivered, *copied)


def _priority(fp: int) -> str:
    """The fingerprint's priority: stable per fingerprint, in the PRIORITIES proportions."""
    slot = (fp * 2654435761 % 2**32) / 2**32
    cumulative = 0.0
    for name, share in PRIORITIES:
        cumulative += share
        if slot < cumulative:
            return name
    return PRIORITIES[-1][0]


def _tsv(row: tuple[Any, ...], columns: int) -> str:
    """One line of COPY's text format with ``columns`` columns, NULL for those the row leaves out (the
    generated values hold no tab, newline or backslash)."""
    return "\t".join("\\N" if v is None else str(v) for v in (*row, *[None] * (columns - len(row)))) + "\n"


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
                jobs_file.writelines(_tsv(j, 13) for j in jobs)
                entries_file.writelines(_tsv(e, 10) for e in entries)
        for table, columns, source in (
            (
                "outbox",
                "alert_id, channel, action, state, attempts, max_attempts, fallback, created_at, next_attempt_at,"
                " delivered_at, priority, service, alertname",
                jobs_file,
            ),
            (
                "timeline",
                "alert_id, at, kind, channel, actor, detail, fingerprint, priority, service, alertname",
                entries_file,
            ),
        ):
            source.seek(0)
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _milliseconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def reads() -> list[Result]:
    """The reports over the generated history, interleaved with ``count(*)`` of the same alerts."""
    with scratch_database() as uri:
        database = PostgresDatabase(uri)
        try:
            SqlAlertHistory(database).migrate()
            started = time.perf_counter()
            load(uri, ALERTS)
            loaded = time.perf_counter() - started
            reports = SqlReports(database)
            policy = RoutingPolicy()
            quarter = ReportRequest(END - DAYS * 86400, END, GroupBy.PRIORITY)
            week = ReportRequest(END - 7 * 86400, END, GroupBy.PRIORITY)  # the API's default window
            checked = read_report(reports, quarter, policy, EVERYTHING)
            assert checked.total.alerts.alerts == ALERTS, checked.total.alerts.alerts
            samples = Samples()

            def count(request: ReportRequest, name: str) -> Callable[[], None]:
                def step() -> None:
                    with database.connect() as conn:
                        samples.add(
                            name,
                            _milliseconds(
                                lambda: conn.execute(
                                    "SELECT count(*) FROM alerts WHERE first_seen >= %s AND first_seen < %s",
                                    (request.since, request.until),
                                ).fetchone()
                            ),
                        )

                return step

            def report(request: ReportRequest, sections: frozenset[Section], name: str) -> Callable[[], None]:
                return lambda: samples.add(name, _milliseconds(lambda: read_report(reports, request, policy, sections)))

            interleave(
                [
                    count(quarter, "count"),
                    report(quarter, SUMMARY, "summary"),
                    report(quarter, EVERYTHING, "full"),
                    count(week, "week count"),
                    report(week, SUMMARY, "week summary"),
                ],
                ROUNDS,
            )
        finally:
            database.close()
    print(f"reports: loaded {ALERTS:,} alerts with jobs and timelines in {loaded:.0f} s; {checked.all_pages:,} pages")
    for name in ("summary", "full", "count", "week summary", "week count"):
        figures = samples[name]
        print(f"reports: {name} {[round(v) for v in figures.values]} ms at 1-min load {list(figures.loads)}")
    return [
        Result(
            f"alert-quality summary over {ALERTS:,} alerts, 90 days (PG)",
            samples["summary"],
            "ms",
            "count(*) of the same alerts",
            samples["count"],
            "< 2000 ms",
        ),
        Result(
            f"alert-quality full report (+ noisiest, flapping) over {ALERTS:,} alerts (PG)",
            samples["full"],
            "ms",
            "count(*) of the same alerts",
            samples["count"],
        ),
        Result(
            f"alert-quality summary over the last 7 days of {ALERTS:,} alerts (PG)",
            samples["week summary"],
            "ms",
            "count(*) of the same alerts",
            samples["week count"],
        ),
    ]


WEBHOOKS = 200  # per round and schema: 2,000 alerts fired, then resolved, and their 4,000 trigger jobs delivered
WRITE_ROUNDS = 9


def writes() -> list[Result]:
    """What the report facts cost the writes (migration 13: the alerts' facts computed by a trigger when
    acknowledged or resolved, the groups copied onto delivered notifications and re-fires, the wider indexes):
    the same webhooks recorded and their jobs delivered through ``SqlAlertHistory`` on a schema with them and on
    one without (the version before), alternating, each round with new alerts. Commits do not wait for the WAL
    flush (``synchronous_commit = off`` on both databases): the disk's flush time, shared with the machine's
    other work, would drown the statements' own."""
    with scratch_database() as with_uri, scratch_database() as without_uri:
        for uri in (with_uri, without_uri):
            with psycopg.connect(uri, autocommit=True) as admin:
                name = sql.Identifier(uri.rpartition("/")[2])
                admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(name))
        databases = {"with": PostgresDatabase(with_uri), "without": PostgresDatabase(without_uri)}
        try:
            histories = {name: SqlAlertHistory(database) for name, database in databases.items()}
            histories["with"].migrate()
            histories["without"].migrate(target=REPORT_FACTS_SCHEMA - 1)
            samples = Samples()
            rounds = {name: 0 for name in histories}

            def step(name: str) -> Callable[[], None]:
                def measured() -> None:
                    history, tag = histories[name], f"{name}{rounds[name]}"
                    rounds[name] += 1
                    now = time.time()
                    webhooks = [
                        [observation("Bench", f"fp-{tag}-{w}-{i}", "high", "bench", now - 60) for i in range(10)]
                        for w in range(WEBHOOKS)
                    ]
                    started = time.perf_counter()
                    for alerts in webhooks:
                        history.record(alerts, now)
                    samples.add(f"fire {name}", WEBHOOKS * 10 / (time.perf_counter() - started))
                    jobs = history.claim(now + 1, 30.0, WEBHOOKS * 10 * 2)
                    started = time.perf_counter()
                    for job in jobs:
                        history.delivered(job, now + 2)
                    samples.add(f"delivered {name}", len(jobs) / (time.perf_counter() - started))
                    started = time.perf_counter()
                    for alerts in webhooks:
                        history.record([replace(a, status="resolved", ends_at=now + 3) for a in alerts], now + 3)
                    samples.add(f"resolve {name}", WEBHOOKS * 10 / (time.perf_counter() - started))

                return measured

            interleave([step("without"), step("with")], WRITE_ROUNDS)
            statements(databases, samples)
        finally:
            for database in databases.values():
                database.close()
    return [
        Result(
            f"intake with the report facts (migration 13): new alerts, {WEBHOOKS} 10-alert webhooks (PG)",
            samples["fire with"],
            "alerts/s",
            "the same without them",
            samples["fire without"],
        ),
        Result(
            "intake with the report facts: the same alerts resolved (PG)",
            samples["resolve with"],
            "alerts/s",
            "the same without them",
            samples["resolve without"],
        ),
        Result(
            "delivery with the report facts: a trigger job marked delivered (PG)",
            samples["delivered with"],
            "jobs/s",
            "the same without them",
            samples["delivered without"],
        ),
        *(
            Result(
                f"{what} with the report facts, per statement (PG)",
                samples[f"{what} with"],
                "us",
                "the same without them",
                samples[f"{what} without"],
            )
            for what in STATEMENTS
        ),
    ]


# The statements receiver/store/history_writes.py issues per known alert, each here on its own in a transaction
# per ten alerts like a webhook's: a repeated alert's "last seen" (which migration 13's trigger does not fire
# on), an acknowledgement and the resolution after it (which it does). Each with the number of times ``now`` it takes.
STATEMENTS = {
    "a repeated alert's last_seen update": ("UPDATE alerts SET last_seen = %s WHERE id = %s", 1),
    "an acknowledgement's update": (
        "UPDATE alerts SET acked_at = COALESCE(acked_at, %s), acked_by = COALESCE(acked_by, 'bench'),"
        " escalate_at = NULL WHERE id = %s",
        1,
    ),
    "a resolution's update": (
        "UPDATE alerts SET status = 'resolved', resolved_at = %s, last_seen = %s, escalate_at = NULL WHERE id = %s",
        2,
    ),
}


def statements(databases: dict[str, PostgresDatabase], samples: Samples) -> None:
    """Microseconds per statement, alternating the schemas, each round on 2,000 firing alerts of its own."""
    count = 2000

    def step(name: str) -> Callable[[], None]:
        def measured() -> None:
            with databases[name].connect() as conn:
                history = SqlAlertHistory(databases[name])
                now = time.time()
                history.record(
                    [observation("Statement", f"fp-s{now}-{i}", "high", "bench", now - 60) for i in range(count)], now
                )
                ids = [r[0] for r in conn.execute("SELECT id FROM alerts ORDER BY id DESC LIMIT %s", (count,))]
            for what, (text, times) in STATEMENTS.items():
                with databases[name].connect() as conn:
                    started = time.perf_counter()
                    for i, alert_id in enumerate(ids):
                        conn.execute(text, (*[now + 1] * times, alert_id))
                        if i % 10 == 9:
                            conn.commit()
                    conn.commit()
                    samples.add(f"{what} {name}", (time.perf_counter() - started) * 1e6 / count)

        return measured

    interleave([step("without"), step("with")], WRITE_ROUNDS)


def run() -> list[Result]:
    return reads() + writes()


if __name__ == "__main__":
    measured = run()
    print(render(measured))
    print(f"\nwritten to {write(measured, RESULTS / 'reports.json')}")
