"""PostgreSQL in the archive: every ordinary table of the receiver's schema, dumped and loaded with binary COPY."""

from __future__ import annotations

from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ops.backup.errors import ArchiveMismatch, RestoreRefused
from receiver.operations import PostgresDatabase, migrate

_READ = 1 << 16  # bytes per COPY block


def _tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition "
        "AND c.relname NOT LIKE 'metric\\_%' ORDER BY c.relname"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """The columns a row is written with: a generated column is computed again, never written."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated = '' ORDER BY attnum",
        (table,),
    ).fetchall()
    return [str(row[0]) for row in rows]


def table_digest(conn: psycopg.Connection[Any], table: str) -> tuple[int, str]:
    """Rows and an order-independent MD5 of a table's content (each row's text form, sorted)."""
    row = conn.execute(
        sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t").format(
            sql.Identifier(table)
        )
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _schema_version(conn: psycopg.Connection[Any]) -> int | None:
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return None
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def dump_postgres(uri: str, out: Path) -> dict[str, Any]:
    out.mkdir()
    tables: dict[str, Any] = {}
    with psycopg.connect(uri) as conn:
        # one snapshot for every table: the dump is consistent across tables
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        version = _schema_version(conn)
        for table in _tables(conn):
            columns = _columns(conn, table)
            rows, digest = table_digest(conn, table)
            statement = sql.SQL("COPY {} ({}) TO STDOUT (FORMAT binary)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with (out / f"{table}.copy").open("wb") as f, conn.cursor().copy(statement) as copy:
                for data in copy:
                    f.write(data)
            tables[table] = {"columns": columns, "rows": rows, "digest": digest}
    return {"schema_version": version, "tables": tables}


def _load_order(conn: psycopg.Connection[Any], tables: list[str]) -> list[str]:
    graph: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ).fetchall():
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    return list(TopologicalSorter(graph).static_order())


def _guarded_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables with user triggers in the current schema (the append-only audit log)."""
    rows = conn.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
    ).fetchall()
    return sorted(row[0] for row in rows)


def restore_postgres(uri: str, section: dict[str, Any], members: Path, *, force: bool) -> None:
    with psycopg.connect(uri) as conn:
        current = _schema_version(conn)
    if current is not None and not force:
        raise RestoreRefused(
            "PostgreSQL already holds the receiver's tables (schema version "
            f"{current}); restore with --force to replace them"
        )
    version = section["schema_version"]
    if version is not None and (current or 0) < version:
        database = PostgresDatabase(uri)
        try:
            migrate(database, target=version)
        finally:
            database.close()
    tables: dict[str, Any] = section["tables"]
    with psycopg.connect(uri) as conn:
        existing = set(_tables(conn))
        missing = sorted(set(tables) - existing)
        if missing:
            raise ArchiveMismatch(f"tables in the backup that the schema does not have: {', '.join(missing)}")
        if tables:
            # The audit log's append-only triggers refuse TRUNCATE; a forced restore is the one
            # sanctioned exception. DISABLE/ENABLE are transactional: no other session ever sees
            # the table unguarded, and the restore itself is audited once it commits.
            guarded = sorted(set(tables) & set(_guarded_tables(conn)))
            for table in guarded:
                conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(sql.Identifier(table)))
            conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, sorted(tables)))))
            for table in guarded:
                conn.execute(sql.SQL("ALTER TABLE {} ENABLE TRIGGER USER").format(sql.Identifier(table)))
        for table in _load_order(conn, sorted(tables)):
            columns = tables[table]["columns"]
            statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with (members / f"{table}.copy").open("rb") as f, conn.cursor().copy(statement) as copy:
                while block := f.read(_READ):
                    copy.write(block)
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%%'"
        ).fetchall():
            if table in tables:
                setval = sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({t}, {c}), COALESCE(MAX({col}), 1), MAX({col}) IS NOT NULL) "
                    "FROM {table}"
                )
                conn.execute(
                    setval.format(
                        t=sql.Literal(table),
                        c=sql.Literal(column),
                        col=sql.Identifier(column),
                        table=sql.Identifier(table),
                    )
                )
        for table, expected in tables.items():
            got = table_digest(conn, table)
            if got != (expected["rows"], expected["digest"]):
                raise ArchiveMismatch(f"table {table}: restored {got[0]} rows with a different digest; rolled back")
        conn.commit()
