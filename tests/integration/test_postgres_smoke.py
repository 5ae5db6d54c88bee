"""PostgreSQL: a round trip through a fresh database."""

from __future__ import annotations

import psycopg


def test_rows_written_in_a_transaction_read_back(postgres_uri: str) -> None:
    with psycopg.connect(postgres_uri) as conn:
        conn.execute("CREATE TABLE alerts (fingerprint text PRIMARY KEY, priority text NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO alerts VALUES (%s, %s)", [("a1", "critical"), ("a2", "low")])
    with psycopg.connect(postgres_uri) as conn:
        rows = conn.execute("SELECT fingerprint, priority FROM alerts ORDER BY 1").fetchall()
    assert rows == [("a1", "critical"), ("a2", "low")]


def test_rolled_back_rows_are_gone(postgres_uri: str) -> None:
    with psycopg.connect(postgres_uri) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.commit()
        conn.execute("INSERT INTO t VALUES (1)")
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
