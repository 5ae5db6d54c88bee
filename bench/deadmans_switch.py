"""The dead man's switch's cost on PostgreSQL: what it adds to every delivery pass and to a Watchdog webhook.

Each delivery pass of every worker checks the switch (one row read in a transaction); each
Watchdog moves one row. Both are compared with the cheapest round trip the same pool can make,
``SELECT 1`` in a transaction, measured in the same run: each a p50 of ``ROUNDS`` runs, in
interleaved rounds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from statistics import quantiles

from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import Samples, interleave
from receiver.config.routing import RoutingPolicy
from receiver.delivery.deadmans_switch import DeadMansSwitch
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory

ROUNDS = 2000


def _p50_us(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    for _ in range(100):  # warm the pool and the plan cache
        action()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1e6)
    return quantiles(samples, n=100)[49]


def run() -> list[Result]:
    with fresh_database() as uri:
        database = PostgresDatabase(uri)
        try:
            history = SqlAlertHistory(database)
            history.migrate()
            clock = time.time
            history.watchdog_seen(clock())
            switch = DeadMansSwitch(history, RoutingPolicy(), {"slack"}, clock, 300.0, check_interval=0.0)

            def ping() -> None:
                with database.connect() as conn:
                    conn.execute("SELECT 1")

            samples = Samples()
            interleave(
                [
                    lambda: samples.add("ping", _p50_us(ping)),
                    lambda: samples.add("check", _p50_us(switch.check)),
                    lambda: samples.add("heartbeat", _p50_us(lambda: history.watchdog_seen(clock()))),
                ]
            )
        finally:
            database.close()
    return [
        Result(
            "dead man's switch check per delivery pass p50 (PG)",
            samples["check"],
            "µs",
            "SELECT 1 p50",
            samples["ping"],
        ),
        Result("Watchdog heartbeat write p50 (PG)", samples["heartbeat"], "µs", "SELECT 1 p50", samples["ping"]),
    ]
