"""One SQLite connection per unit of work: committed on success, rolled back on error, always closed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def transaction(path: Path, timeout: float = 10.0) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=timeout)
    try:
        with conn:
            yield conn
    finally:
        conn.close()
