"""The receiver's PostgreSQL pool fails fast while the database is known down (real PostgreSQL)."""

from __future__ import annotations

import pytest

from receiver.store.database import DOWN_COOLDOWN, PROBE_WAIT, DatabaseUnavailable, PostgresDatabase
from tests.services import free_port
from tests.unit.receiver.fakes import FakeClock


def test_a_lost_connection_opens_the_breaker_and_the_first_call_after_the_cooldown_reconnects(
    postgres_uri: str,
) -> None:
    clock = FakeClock()
    database = PostgresDatabase(postgres_uri, clock=clock)
    try:
        database.ping()
        with pytest.raises(DatabaseUnavailable, match="PostgreSQL unreachable"), database.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # the server drops this connection
        with pytest.raises(DatabaseUnavailable, match=r"a connection failed 0\.0 s ago"):
            database.ping()  # refused without touching the pool
        clock.advance(DOWN_COOLDOWN)
        database.ping()  # the probe: a fresh connection, and the breaker closes
        database.ping()
    finally:
        database.close()


def test_a_failing_statement_on_a_working_connection_does_not_open_the_breaker(postgres_uri: str) -> None:
    database = PostgresDatabase(postgres_uri, clock=FakeClock())
    try:
        for statement in ("SELECT 1/0", "SELECT * FROM no_such_table"):
            with pytest.raises(DatabaseUnavailable, match="PostgreSQL failed"), database.connect() as conn:
                conn.execute(statement)
        database.ping()  # still closed: no cooldown needed
    finally:
        database.close()


def test_a_database_nobody_listens_for_is_tried_once_per_cooldown() -> None:
    clock = FakeClock()
    database = PostgresDatabase(f"postgresql://nobody@127.0.0.1:{free_port()}/none", connect_timeout=1, clock=clock)
    try:
        with pytest.raises(DatabaseUnavailable, match="unreachable: PoolTimeout after 1 s"):
            database.ping()
        clock.advance(DOWN_COOLDOWN / 2)
        with pytest.raises(DatabaseUnavailable, match=r"a connection failed 0\.5 s ago"):
            database.ping()
        clock.advance(DOWN_COOLDOWN / 2)
        with pytest.raises(DatabaseUnavailable, match=rf"unreachable: PoolTimeout after {PROBE_WAIT:g} s"):
            database.ping()  # the probe waited for the pool again, briefly, and failed
    finally:
        database.close()
