"""Round trips to PostgreSQL, counted in libpq's protocol trace: for tests and bench/receiver.py.

A round trip is one flight of messages from the client followed by a wait for the server's answer:
in the trace, a run of frontend (``F``) lines ended by backend (``B``) lines. Pipelined statements
sent together are one flight, so this counts what latency is made of, not statements.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import pq

from receiver.store.database import PostgresDatabase


class TracedDatabase(PostgresDatabase):
    """A ``PostgresDatabase`` whose connections write libpq's protocol trace to one file."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri, max_size=1)
        handle, name = tempfile.mkstemp(prefix="pq-trace-", suffix=".txt")
        self.trace_path = Path(name)
        self._trace = os.fdopen(handle, "w")

    def _traced(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        conn.pgconn.trace(self._trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        with super().connect() as conn:
            self._traced(conn)
            yield conn

    @contextmanager
    def counting(self) -> Iterator[list[int]]:
        """Count the round trips of the block: the one-item list holds the count once it ends."""
        self._trace.flush()
        start = self.trace_path.stat().st_size
        counted: list[int] = []
        yield counted
        self._trace.flush()
        with self.trace_path.open() as trace:
            trace.seek(start)
            counted.append(round_trips(trace.read()))

    def close(self) -> None:
        super().close()
        self._trace.close()
        self.trace_path.unlink(missing_ok=True)


def round_trips(trace: str) -> int:
    """Runs of frontend messages in a libpq trace: each is sent, then the client waits."""
    flights, sending = 0, False
    for line in trace.splitlines():
        frontend = line.startswith("F\t")
        if frontend and not sending:
            flights += 1
        sending = frontend
    return flights
