"""What the domain-event outbox adds to recording a webhook on PostgreSQL.

A webhook of 10 new firing ``kind=threshold`` alerts (20 events: AlertCreated and
ThresholdExceeded each) recorded by ``SqlAlertHistory.record`` with the outbox, against the
same webhook recorded without it, in one fresh database in the same run:

- latency: alternating webhook by webhook in one thread, a p50 of ``ROUNDS`` webhooks each per
  interleaved round;
- cost under concurrency, as the receiver's workers write: ``WRITERS`` threads recording
  ``PER_WRITER`` webhooks each, with and then without the outbox (interleaved rounds): webhooks/s,
  and the CPU PostgreSQL's processes spent per webhook (their utime + stime in /proc, so the
  server must run on this host, as the benchmark's does). CPU per webhook holds steadier than a
  rate on a shared machine.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path
from statistics import quantiles

from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import ROUNDS as INTERLEAVED_ROUNDS
from bench.rounds import Samples, interleave
from receiver.store.database import PostgresDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory

ROUNDS = 300
ALERTS = 10
WRITERS = 4  # the bench's receiver runs 4 workers
PER_WRITER = 1000
_serial = itertools.count()
_serial_lock = threading.Lock()
_TICKS = os.sysconf("SC_CLK_TCK")


def _webhook() -> list[Observation]:
    with _serial_lock:
        batch = next(_serial)
    return [
        Observation(
            fingerprint=f"{batch:08x}{n:08x}",
            starts_at=1_795_680_000.0 + batch,
            alertname="HighLatency",
            status="firing",
            priority="high",
            priority_defaulted=False,
            service="portfolio-service",
            labels={"alertname": "HighLatency", "service": "portfolio-service", "kind": "threshold", "n": str(n)},
            annotations={"summary": "slow", "runbook_url": "docs/alerting.md#highlatency"},
            generator_url="http://prometheus/graph",
            ends_at=None,
            content_hash=f"{batch}-{n}",
            channels=("slack",),
            retry_budget=3,
            ack_deadline=None,
        )
        for n in range(ALERTS)
    ]


def _p50_ms(samples: list[float]) -> float:
    return quantiles(samples, n=100)[49]


def postgres_cpu_seconds() -> float:
    """User + system CPU of every PostgreSQL process on this host so far (the server, its backends
    and its background writers: what a write costs it, WAL included)."""
    ticks = 0
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            stat = (process / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICKS


def concurrent(history: SqlAlertHistory, name: str, samples: Samples) -> None:
    """``WRITERS`` threads recording ``PER_WRITER`` webhooks each: webhooks/s and PostgreSQL's CPU per webhook."""

    def write() -> None:
        for _ in range(PER_WRITER):
            history.record(_webhook(), time.time())

    writers = [threading.Thread(target=write) for _ in range(WRITERS)]
    cpu, started = postgres_cpu_seconds(), time.perf_counter()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    webhooks = WRITERS * PER_WRITER
    samples.add(f"{name} rate", webhooks / (time.perf_counter() - started))
    samples.add(f"{name} pg cpu", (postgres_cpu_seconds() - cpu) / webhooks * 1_000_000)


def run() -> list[Result]:
    with fresh_database() as uri:
        database = PostgresDatabase(uri, max_size=WRITERS)
        try:
            plain = SqlAlertHistory(database)
            plain.migrate()
            with_events = SqlAlertHistory(database, SqlEventOutbox(database))
            samples = Samples()
            for _ in range(INTERLEAVED_ROUNDS):  # already alternating webhook by webhook: rounds in one order
                timings: dict[bool, list[float]] = {False: [], True: []}
                for round_ in range(ROUNDS + 20):  # the first 20 warm the pool and the plan cache
                    for outbox, history in ((False, plain), (True, with_events)):
                        observations = _webhook()
                        started = time.perf_counter()
                        history.record(observations, time.time())
                        if round_ >= 20:
                            timings[outbox].append((time.perf_counter() - started) * 1000)
                samples.add("outbox", _p50_ms(timings[True]) * 1000)
                samples.add("plain", _p50_ms(timings[False]) * 1000)
            interleave(
                [lambda: concurrent(with_events, "outbox", samples), lambda: concurrent(plain, "plain", samples)]
            )
        finally:
            database.close()
    return [
        Result(
            f"webhook of {ALERTS} alerts recorded with its {2 * ALERTS} domain events p50 (PG)",
            samples["outbox"],
            "µs",
            "without the outbox p50",
            samples["plain"],
        ),
        Result(
            f"webhooks of {ALERTS} alerts recorded by {WRITERS} writers with their domain events (PG)",
            samples["outbox rate"],
            "webhooks/s",
            "without the outbox",
            samples["plain rate"],
        ),
        Result(
            f"PostgreSQL CPU per webhook, {WRITERS} writers, with its {2 * ALERTS} domain events",
            samples["outbox pg cpu"],
            "µs",
            "without the outbox",
            samples["plain pg cpu"],
        ),
    ]
