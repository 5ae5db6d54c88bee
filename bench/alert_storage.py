"""PostgreSQL bytes per alert of history: the per-unit figure of the capacity model (docs/operations.md).

20,000 alerts go through the receiver's own repository (``SqlAlertHistory`` with the domain-event
outbox, as the receiver runs it) in a fresh database: each fires, its notifications are claimed
and delivered, it resolves, the resolve notifications are delivered. Labels and annotations are
the size of the shipped rules' (eight labels, summary + description + runbook and dashboard
links). ``pg_total_relation_size`` (table + TOAST + indexes) of each table after a plain
``VACUUM``, divided by the alerts, is the figure; the same run with short labels and firing
only (the earlier figure in the docs) is the baseline.

The receiver keeps alerts, timeline and outbox for ``RETENTION_ALERTS`` (90 days) and the
domain-event outbox for ``RETENTION_EVENTS`` (30 days), so the two are reported apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace

import psycopg

from bench.receiver import fresh_database
from bench.report import RESULTS, Result, render, write
from bench.rounds import Figures
from receiver.config.routing import DEFAULT_PRIORITIES, Priority
from receiver.store.database import PostgresDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver.test_history_contract import NOW, obs

ALERTS = 20_000
BATCH = 500
HISTORY_TABLES = ("alerts", "timeline", "outbox")  # kept RETENTION_ALERTS (90 days)
EVENT_TABLES = ("domain_event_outbox",)  # kept RETENTION_EVENTS (30 days)
PRIORITIES = ("critical", "high", "high", "medium", "medium", "medium", "low", "low", "low", "low")


def realistic(i: int, at: float) -> Observation:
    """An alert the size of the shipped rules' (KafkaConsumerLagHigh and the like)."""
    priority = PRIORITIES[i % len(PRIORITIES)]
    service = ("asset-service", "portfolio-service", "transaction-service")[i % 3]
    name = f"KafkaConsumerLagHigh{i % 40}"
    labels = {
        "alertname": name,
        "priority": priority,
        "service": service,
        "job": "exporter",
        "instance": "monitoring-exporter-0.internal:9108",
        "topic": "transaction.events",
        "consumergroup": f"{service}-projections",
        "monitor": "investment-platform",
    }
    annotations = {
        "summary": f"Consumer group {service}-projections is {120 + i % 500} s behind on transaction.events",
        "description": (
            "The group's lag has grown for 10 minutes; projections and portfolio valuations are stale. "
            "Check the consumers' logs and the broker, then scale the group or fix the failing handler."
        ),
        "runbook_url": f"https://runbooks.example.internal/docs/alerting.md#{name.lower()}",
        "dashboard": "https://grafana.example.internal/d/event-monitoring/event-monitoring?var-service=" + service,
    }
    return replace(
        obs(name),
        fingerprint=f"{i:016x}",
        starts_at=at,
        priority=priority,
        service=service,
        labels=labels,
        annotations=annotations,
        generator_url=f"http://prometheus-0.internal:9090/graph?g0.expr=monitoring_lag_seconds%7Bgroup%3D%22{i}%22%7D",
        content_hash=f"{i:032x}",
        channels=DEFAULT_PRIORITIES[Priority(priority)].channels,  # the receiver's default routing
    )


def deliver_all(history: SqlAlertHistory, now: float) -> None:
    while jobs := history.claim(now, 60.0, 1000) + history.claim(now, 60.0, 1000, digest=True):
        for job in jobs:
            history.delivered(job, now)


def fill(uri: str, lifecycle: bool) -> None:
    db = PostgresDatabase(uri)
    try:
        history = SqlAlertHistory(db, events=SqlEventOutbox(db) if lifecycle else None)
        history.migrate()
        for start in range(0, ALERTS, BATCH):
            at = NOW + start
            if not lifecycle:
                history.record([obs(f"Bench{i}", starts_at=at - i) for i in range(start, start + BATCH)], at)
                continue
            firing = [realistic(i, at) for i in range(start, start + BATCH)]
            history.record(firing, at)
            deliver_all(history, at + 86400)  # past every e-mail digest time
            resolved = [replace(o, status="resolved", ends_at=at + 600) for o in firing]
            history.record(resolved, at + 600)
            deliver_all(history, at + 86400)
    finally:
        db.close()


def sizes(uri: str, tables: Sequence[str]) -> dict[str, int]:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("VACUUM")
        return {
            table: int(conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0])  # type: ignore[index]
            for table in tables
        }


def measure() -> tuple[dict[str, int], dict[str, int]]:
    """Bytes per table: (short labels, firing only) and (realistic lifecycle)."""
    with fresh_database() as uri:
        fill(uri, lifecycle=False)
        short = sizes(uri, HISTORY_TABLES)
    with fresh_database() as uri:
        fill(uri, lifecycle=True)
        full = sizes(uri, HISTORY_TABLES + EVENT_TABLES)
    return short, full


def run() -> list[Result]:
    short, full = measure()
    history = sum(full[t] for t in HISTORY_TABLES) / ALERTS
    events = sum(full[t] for t in EVENT_TABLES) / ALERTS
    split = ", ".join(f"{t} {full[t] / ALERTS:,.0f}" for t in HISTORY_TABLES)
    return [
        Result(
            "PostgreSQL per alert fired→notified→resolved, shipped-size labels (90-day tables)",
            Figures.once(history),
            "bytes",
            "short labels, firing only",
            Figures.once(sum(short.values()) / ALERTS),
            split,
        ),
        Result(
            "PostgreSQL per alert, domain-event outbox (30-day table)",
            Figures.once(events),
            "bytes",
            "the 90-day tables, same alerts",
            Figures.once(history),
        ),
    ]


if __name__ == "__main__":
    measured = run()
    print(render(measured))
    print(f"\nwritten to {write(measured, RESULTS / 'alert-storage.json')}")
    sys.exit(0)
