"""What the domain-event outbox adds to recording a webhook on PostgreSQL.

A webhook of 10 new firing ``kind=threshold`` alerts (20 events: AlertCreated and
ThresholdExceeded each) recorded by ``SqlAlertHistory.record`` with the outbox, against the
same webhook recorded without it, alternating, in one fresh database in the same run; a p50 of
``ROUNDS`` webhooks each per interleaved round.
"""

from __future__ import annotations

import itertools
import time
from statistics import quantiles

from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import ROUNDS as INTERLEAVED_ROUNDS
from bench.rounds import Samples
from receiver.store.database import PostgresDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory

ROUNDS = 300
ALERTS = 10
_serial = itertools.count()


def _webhook() -> list[Observation]:
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


def run() -> list[Result]:
    with fresh_database() as uri:
        database = PostgresDatabase(uri)
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
        finally:
            database.close()
    return [
        Result(
            f"webhook of {ALERTS} alerts recorded with its {2 * ALERTS} domain events p50 (PG)",
            samples["outbox"],
            "µs",
            "without the outbox p50",
            samples["plain"],
        )
    ]
