"""What authentication costs per request, each against a baseline measured in the same run.

- API key check (``SqlKeyStore.verify``: one indexed SELECT on PostgreSQL, a salted SHA-256 and a
  constant-time compare) against a bare ``SELECT 1`` on the same connection pool: the check should
  cost about one round trip, nothing more.
- The exporter's basic auth on /metrics with a remembered password against the first (bcrypt) check,
  which is what every scrape would pay without the cache.

Each pair in interleaved rounds.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import bcrypt

from bench.receiver import fresh_database
from bench.report import Result
from bench.rounds import Samples, interleave
from exporter.web_config import BasicAuth
from receiver.store.api_keys import Role, SqlKeyStore
from receiver.store.audit import SqlAuditLog
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory

SECONDS = 2.0


def rate(operation: Callable[[], object], seconds: float = SECONDS, limit: int = 200_000) -> float:
    """Operations per second, bounded by time and count."""
    done = 0
    started = time.perf_counter()
    while done < limit and time.perf_counter() - started < seconds:
        operation()
        done += 1
    return done / (time.perf_counter() - started)


def run() -> list[Result]:
    with fresh_database() as uri:
        database = PostgresDatabase(uri)
        try:
            SqlAlertHistory(database).migrate()
            keys = SqlKeyStore(database, SqlAuditLog(database, time.time), time.time)
            token = keys.create("bench", Role.VIEWER, "bench", "bench").token

            def select_one() -> None:
                with database.connect() as conn:
                    conn.execute("SELECT 1").fetchone()

            samples = Samples()
            interleave(
                [
                    lambda: samples.add("select", rate(select_one)),
                    lambda: samples.add("verify", rate(lambda: keys.verify(token))),
                ]
            )
        finally:
            database.close()
    hashed = bcrypt.hashpw(b"scrape", bcrypt.gensalt(rounds=10))
    header = "Basic " + base64.b64encode(b"prometheus:scrape").decode()
    auth = BasicAuth({"prometheus": hashed})
    interleave(
        [
            lambda: samples.add(
                "uncached", rate(lambda: BasicAuth({"prometheus": hashed}).allows(header), seconds=1.0, limit=20)
            ),
            lambda: samples.add("cached", rate(lambda: auth.allows(header))),
        ]
    )
    return [
        Result(
            "api key checks (PostgreSQL)",
            samples["verify"],
            "checks/s",
            "SELECT 1 round trips",
            samples["select"],
            "about one round trip (ratio near 1)",
        ),
        Result(
            "exporter basic auth, remembered password",
            samples["cached"],
            "checks/s",
            "bcrypt check (cost 10) every scrape",
            samples["uncached"],
            "far above 1: scrapes do not pay bcrypt",
        ),
    ]
