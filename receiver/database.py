"""Connections to the alert-history database: PostgreSQL, or SQLite when POSTGRES_URI is unset."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import psycopg


class DatabaseUnavailable(Exception):
    """The database cannot be reached; callers answer 503 so that Alertmanager retries."""


class Database(Protocol):
    dialect: str

    def ping(self) -> None:
        """Raise ``DatabaseUnavailable`` unless a trivial query succeeds."""
        ...


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, uri: str, connect_timeout: float = 3.0) -> None:
        self._uri = uri
        self._timeout = connect_timeout

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        try:
            conn = psycopg.connect(self._uri, connect_timeout=int(max(1, self._timeout)))
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL unreachable: {type(exc).__name__}") from exc
        with conn:
            yield conn

    def ping(self) -> None:
        with self.connect() as conn:
            conn.execute("SELECT 1")


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self._path, timeout=5.0)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite file {self._path} unusable: {exc}") from exc
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def ping(self) -> None:
        try:
            with self.connect() as conn:
                conn.execute("SELECT 1")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite file {self._path} unusable: {exc}") from exc
