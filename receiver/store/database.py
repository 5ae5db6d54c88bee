"""Connections to the alert-history database: PostgreSQL, or SQLite when POSTGRES_URI is unset."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import psycopg
import psycopg_pool

from receiver.config.settings import ReceiverConfig
from receiver.store.breaker import Breaker

DOWN_COOLDOWN = 1.0  # seconds of fail-fast after a connection failure, before one caller probes again
# How long the probing caller waits for the pool to reach the database: a webhook's 503 stays prompt
# while the database is down (the pool keeps reconnecting in the background meanwhile).
PROBE_WAIT = 0.5


class DatabaseUnavailable(Exception):
    """The database cannot be reached or failed; callers answer 503 so that Alertmanager retries."""


class Database(Protocol):
    dialect: str

    def ping(self) -> None:
        """Raise ``DatabaseUnavailable`` unless a trivial query succeeds."""
        ...


def _unreachable(exc: psycopg.OperationalError) -> bool:
    """A lost or refused connection (no SQLSTATE, class 08, or a shutdown in class 57), as opposed
    to a statement that failed on a working connection (serialization failure, deadlock, ...)."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state.startswith("57P")


class PostgresDatabase:
    """A lazily opened connection pool: nothing connects until the first query.

    While the database is known to be down (a connection failed less than ``DOWN_COOLDOWN`` ago)
    callers get ``DatabaseUnavailable`` at once instead of each waiting ``connect_timeout`` for
    the pool; one caller at a time probes after the cooldown (receiver/store/breaker.py), waiting
    at most ``PROBE_WAIT`` for the pool.
    """

    dialect = "postgresql"

    def __init__(
        self,
        uri: str,
        connect_timeout: float = 3.0,
        max_size: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uri = uri
        self._timeout = connect_timeout
        self._max_size = max_size
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[tuple[object, ...]]] | None = None
        self._lock = threading.Lock()
        self._breaker = Breaker(clock, DOWN_COOLDOWN)

    def _get_pool(self) -> psycopg_pool.ConnectionPool[psycopg.Connection[tuple[object, ...]]]:
        with self._lock:
            if self._pool is None:
                self._pool = psycopg_pool.ConnectionPool(
                    self._uri,
                    min_size=1,
                    max_size=self._max_size,
                    kwargs={"connect_timeout": int(max(1, self._timeout))},
                    timeout=self._timeout,
                    reset=_autocommit_off,
                    open=True,
                    name="receiver",
                )
            return self._pool

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection inside a transaction: committed on exit, rolled back on error."""
        if not self._breaker.allow():
            raise DatabaseUnavailable(
                f"PostgreSQL unreachable: a connection failed {self._breaker.down_for() or 0:.1f} s ago"
            )
        verdict = self._breaker.released
        wait = min(PROBE_WAIT, self._timeout) if self._breaker.probing else self._timeout
        try:
            with self._get_pool().connection(timeout=wait) as conn:
                verdict = self._breaker.succeeded  # reached it; what the caller does next is its own
                yield conn
        except psycopg_pool.PoolTimeout as exc:
            verdict = self._breaker.failed
            raise DatabaseUnavailable(f"PostgreSQL unreachable: {type(exc).__name__} after {wait:g} s") from exc
        except psycopg.OperationalError as exc:
            if _unreachable(exc):
                verdict = self._breaker.failed
                raise DatabaseUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc
            raise DatabaseUnavailable(f"PostgreSQL failed: {type(exc).__name__}: {exc}") from exc
        except psycopg.Error as exc:
            raise DatabaseUnavailable(f"PostgreSQL failed: {type(exc).__name__}: {exc}") from exc
        finally:
            verdict()

    @contextmanager
    def pipeline(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection in pipeline mode, in one transaction whose ``BEGIN`` is sent with the
        first statement and whose ``COMMIT`` is sent with the last: the caller's fetches and the
        sync that ends the block are the only round trips. (Left to itself, psycopg waits for its
        ``BEGIN``; and the implicit transaction of a pipeline would commit at that sync even when
        the caller failed half-way.) Rolled back on error; the connection goes back to the pool
        through its reset, which turns autocommit off again."""
        with self.connect() as conn:
            conn.autocommit = True  # no BEGIN of psycopg's: ours travels with the first statement
            with conn.pipeline():
                conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")

    def ping(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _autocommit_off(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """The pool's reset: a connection that ``pipeline`` lent comes back as ``connect`` lends them."""
    conn.autocommit = False


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose work runs in one ``BEGIN IMMEDIATE`` transaction: SQLite's single writer."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self._path, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite file {self._path} unusable: {exc}") from exc
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # readers do not block the single writer
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite file {self._path} failed: {exc}") from exc
        finally:
            conn.close()

    def ping(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT 1")

    def close(self) -> None:
        return None


def open_database(config: ReceiverConfig, connections: int | None = None) -> PostgresDatabase | SqliteDatabase:
    """The alert-history database the configuration names: PostgreSQL when POSTGRES_URI is set, else SQLite.

    ``connections`` bounds the pool: by default one per request thread (a web worker), so that none waits."""
    if config.shared.postgres_uri is not None:
        return PostgresDatabase(config.shared.postgres_uri.reveal(), max_size=connections or config.threads)
    return SqliteDatabase(config.sqlite_path)
