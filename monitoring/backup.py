"""``monitoring backup`` and ``monitoring restore``: one encrypted archive of the stack's state.

What goes in (each store only when configured):

- PostgreSQL: every ordinary table of the receiver's schema (alert history, timeline, outbox,
  domain-event outbox, dead man's switch, schema_migrations, and whatever later migrations add,
  such as the audit log), found by enumerating the schema, each dumped with ``COPY … (FORMAT
  binary)``, which is exact for every type. The exporter's ``metric_*`` snapshot tables are left
  out (partitioned; they are derived from the metrics and expire with them).
- MongoDB: every collection of the event-store database, as the raw BSON of each document in
  ``_id`` order.
- Prometheus: a TSDB snapshot taken through ``POST /api/v1/admin/tsdb/snapshot`` (Prometheus
  must run with ``--web.enable-admin-api``), read from ``<data dir>/snapshots/<name>`` and removed
  from there once archived.

The archive is a tar stream whose first member, ``manifest.json``, gives the format version,
the receiver schema version, the rows and content digest of every table and collection, and the
size and SHA-256 of every other member. The stream is encrypted with AES-256-GCM
(``monitoring.backup_crypto``). Restore checks every member's checksum before touching a store,
loads each store, and compares counts and digests with the manifest before committing.

Restore refuses a store that already holds data (PostgreSQL: the receiver's schema exists;
MongoDB: a collection holds documents; Prometheus: the target data directory is not empty)
unless ``force`` is given, in which case the backed-up tables and collections are replaced.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import requests
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from psycopg import sql

from monitoring.backup_crypto import DecryptingReader, EncryptingWriter

FORMAT = 1
MANIFEST = "manifest.json"
_READ = 1 << 16

OnDone = Callable[[str, str], None]  # (action: "backup" | "restore", detail): e.g. the audit log


class BackupFailed(Exception):
    """A store could not be read or written; the message says which and why."""


class RestoreRefused(Exception):
    """The target already holds data and ``force`` was not given."""


class ArchiveMismatch(Exception):
    """The archive's members or the restored data disagree with its manifest."""


@dataclass(frozen=True)
class Stores:
    """Where to back up from or restore to; ``None`` leaves that store out."""

    postgres_uri: str | None = None
    mongodb_uri: str | None = None
    prometheus_url: str | None = None  # backup only: the admin API
    prometheus_data: Path | None = None  # backup: Prometheus's --storage.tsdb.path; restore: an empty dir
    events_retention_seconds: float = 30 * 86400.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_READ):
            digest.update(block)
    return digest.hexdigest()


# --- PostgreSQL ---


def _tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition "
        "AND c.relname NOT LIKE 'metric\\_%' ORDER BY c.relname"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
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


def _dump_postgres(uri: str, out: Path) -> dict[str, Any]:
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


def _restore_postgres(uri: str, section: dict[str, Any], members: Path, *, force: bool) -> None:
    from receiver.database import PostgresDatabase
    from receiver.sql_history import SqlAlertHistory

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
            SqlAlertHistory(database).migrate(target=version)
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


# --- MongoDB ---


def _raw(db: Any, name: str) -> Any:
    return db.get_collection(name, codec_options=CodecOptions(document_class=RawBSONDocument))


def _collections(db: Any) -> list[str]:
    return sorted(name for name in db.list_collection_names() if not name.startswith("system."))


def collection_digest(db: Any, name: str) -> tuple[int, str]:
    """Documents and the SHA-256 of their raw BSON in ``_id`` order."""
    digest = hashlib.sha256()
    count = 0
    for doc in _raw(db, name).find(sort=[("_id", pymongo.ASCENDING)]):
        digest.update(doc.raw)
        count += 1
    return count, digest.hexdigest()


def _dump_mongo(uri: str, out: Path) -> dict[str, Any]:
    out.mkdir()
    collections: dict[str, Any] = {}
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db: Any = client.get_default_database("monitoring")
        for name in _collections(db):
            digest = hashlib.sha256()
            count = 0
            with (out / f"{name}.bson").open("wb") as f:
                for doc in _raw(db, name).find(sort=[("_id", pymongo.ASCENDING)]):
                    f.write(doc.raw)  # BSON documents carry their own length: the file is a stream
                    digest.update(doc.raw)
                    count += 1
            collections[name] = {"documents": count, "digest": digest.hexdigest()}
        return {"database": db.name, "collections": collections}


def _bson_documents(path: Path) -> Iterator[RawBSONDocument]:
    with path.open("rb") as f:
        while head := f.read(4):
            size = int.from_bytes(head, "little")
            yield RawBSONDocument(head + f.read(size - 4))


def _restore_mongo(uri: str, section: dict[str, Any], members: Path, *, force: bool, retention: float) -> None:
    from monitoring.eventstore.mongo import COLLECTION, MongoEventStore

    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        db: Any = client.get_default_database("monitoring")
        occupied = [name for name in _collections(db) if db[name].estimated_document_count() > 0]
        if occupied and not force:
            raise RestoreRefused(
                f"MongoDB database {db.name} already holds documents in {', '.join(occupied)}; "
                "restore with --force to replace them"
            )
        collections: dict[str, Any] = section["collections"]
        for name in collections:
            db.drop_collection(name)
            batch: list[RawBSONDocument] = []
            for doc in _bson_documents(members / f"{name}.bson"):
                batch.append(doc)
                if len(batch) == 1000:
                    _raw(db, name).insert_many(batch, ordered=True)
                    batch = []
            if batch:
                _raw(db, name).insert_many(batch, ordered=True)
        if COLLECTION in collections:
            MongoEventStore(db, retention).prepare()  # the event store's indexes and retention
        for name, expected in collections.items():
            got = collection_digest(db, name)
            if got != (expected["documents"], expected["digest"]):
                raise ArchiveMismatch(f"collection {name}: restored {got[0]} documents with a different digest")


# --- Prometheus ---


def _prometheus_snapshot(url: str, data_dir: Path) -> Path:
    try:
        response = requests.post(f"{url.rstrip('/')}/api/v1/admin/tsdb/snapshot", timeout=120)
    except requests.RequestException as exc:
        raise BackupFailed(f"Prometheus at {url} unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise BackupFailed(
            f"Prometheus snapshot failed with HTTP {response.status_code} (is it started with "
            f"--web.enable-admin-api?): {response.text[:200]}"
        )
    name = str(response.json()["data"]["name"])
    path = data_dir / "snapshots" / name
    if not path.is_dir():
        raise BackupFailed(f"Prometheus reported snapshot {name}, but {path} is missing: is {data_dir} its data dir?")
    return path


# --- the archive ---


def create_backup(out: Path, key: bytes, stores: Stores, *, on_done: OnDone | None = None) -> dict[str, Any]:
    """Write the encrypted archive of every configured store to ``out``; return its manifest."""
    if stores.postgres_uri is None and stores.mongodb_uri is None and stores.prometheus_url is None:
        raise BackupFailed("nothing to back up: set POSTGRES_URI, MONGODB_URI or --prometheus-url")
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "members": {}}
    snapshot: Path | None = None
    with tempfile.TemporaryDirectory(prefix="monitoring-backup-") as tmp:  # mode 0700
        staging = Path(tmp)
        try:
            if stores.postgres_uri is not None:
                manifest["postgres"] = _dump_postgres(stores.postgres_uri, staging / "postgres")
            if stores.mongodb_uri is not None:
                manifest["mongodb"] = _dump_mongo(stores.mongodb_uri, staging / "mongodb")
        except (psycopg.Error, pymongo.errors.PyMongoError) as exc:
            raise BackupFailed(f"reading the stores failed: {type(exc).__name__}: {exc}") from exc
        files: dict[str, Path] = {
            str(path.relative_to(staging)): path for path in sorted(staging.rglob("*")) if path.is_file()
        }
        if stores.prometheus_url is not None:
            if stores.prometheus_data is None:
                raise BackupFailed("--prometheus-url needs --prometheus-data (Prometheus's --storage.tsdb.path)")
            snapshot = _prometheus_snapshot(stores.prometheus_url, stores.prometheus_data)
            manifest["prometheus"] = {"snapshot": snapshot.name}
            for path in sorted(snapshot.rglob("*")):
                if path.is_file():
                    files[f"prometheus/{path.relative_to(snapshot)}"] = path
        try:
            for name, path in files.items():
                manifest["members"][name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
            partial = out.with_name(out.name + ".partial")
            with partial.open("wb") as sink:
                writer = EncryptingWriter(sink, key)
                with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
                    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime = len(body), int(time.time())
                    tar.addfile(info, io.BytesIO(body))
                    for name, path in files.items():
                        tar.add(path, arcname=name, recursive=False)
                writer.close()
            partial.replace(out)
        finally:
            if snapshot is not None:
                shutil.rmtree(snapshot, ignore_errors=True)
    if on_done is not None:
        on_done("backup", f"{out}: {_summary(manifest)}")
    return manifest


def _summary(manifest: dict[str, Any]) -> str:
    parts = []
    if "postgres" in manifest:
        rows = sum(t["rows"] for t in manifest["postgres"]["tables"].values())
        parts.append(f"{len(manifest['postgres']['tables'])} tables, {rows} rows")
    if "mongodb" in manifest:
        docs = sum(c["documents"] for c in manifest["mongodb"]["collections"].values())
        parts.append(f"{len(manifest['mongodb']['collections'])} collections, {docs} documents")
    if "prometheus" in manifest:
        parts.append(f"Prometheus snapshot {manifest['prometheus']['snapshot']}")
    return "; ".join(parts)


def _extract(path: Path, key: bytes, into: Path) -> dict[str, Any]:
    """Decrypt and unpack into ``into``; every member must match the manifest's checksum."""
    with path.open("rb") as source:
        reader = DecryptingReader(source, key)
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise ArchiveMismatch("the archive does not start with its manifest")
            extracted = tar.extractfile(first)
            assert extracted is not None
            manifest: dict[str, Any] = json.loads(extracted.read())
            while (member := tar.next()) is not None:
                if member.name not in manifest["members"]:
                    raise ArchiveMismatch(f"member {member.name} is not in the manifest")
                tar.extract(member, into, filter="data")
    if manifest.get("format") != FORMAT:
        raise ArchiveMismatch(f"backup format {manifest.get('format')!r}; this version reads {FORMAT}")
    for name, expected in manifest["members"].items():
        member = into / name
        if not member.is_file() or _sha256(member) != expected["sha256"]:
            raise ArchiveMismatch(f"member {name} is missing or its checksum differs")
    return manifest


def read_manifest(path: Path, key: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="monitoring-restore-") as tmp:
        return _extract(path, key, Path(tmp))


def restore_backup(
    path: Path, key: bytes, stores: Stores, *, force: bool = False, on_done: OnDone | None = None
) -> dict[str, Any]:
    """Restore every store present in the archive and configured in ``stores``; return the manifest."""
    with tempfile.TemporaryDirectory(prefix="monitoring-restore-") as tmp:
        members = Path(tmp)
        manifest = _extract(path, key, members)
        if "prometheus" in manifest and stores.prometheus_data is not None:
            target = stores.prometheus_data
            if target.exists() and any(target.iterdir()) and not force:
                raise RestoreRefused(f"Prometheus data dir {target} is not empty; restore with --force to replace it")
        try:
            if "postgres" in manifest and stores.postgres_uri is not None:
                _restore_postgres(stores.postgres_uri, manifest["postgres"], members / "postgres", force=force)
            if "mongodb" in manifest and stores.mongodb_uri is not None:
                _restore_mongo(
                    stores.mongodb_uri,
                    manifest["mongodb"],
                    members / "mongodb",
                    force=force,
                    retention=stores.events_retention_seconds,
                )
        except (psycopg.Error, pymongo.errors.PyMongoError) as exc:
            raise BackupFailed(f"writing the stores failed: {type(exc).__name__}: {exc}") from exc
        if "prometheus" in manifest and stores.prometheus_data is not None:
            target = stores.prometheus_data
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(members / "prometheus", target)
    if on_done is not None:
        on_done("restore", f"{path}: {_summary(manifest)}")
    return manifest


# --- the commands ---


def add_arguments(backup: Any, restore: Any) -> None:
    backup.add_argument("--out", type=Path, required=True, help="the encrypted archive to write")
    restore.add_argument("archive", type=Path, help="the encrypted archive to read")
    restore.add_argument("--force", action="store_true", help="replace data already in the stores")
    for parser in (backup, restore):
        parser.add_argument("--prometheus-url", help="Prometheus with --web.enable-admin-api (backup)")
        parser.add_argument(
            "--prometheus-data",
            type=Path,
            help="backup: Prometheus's --storage.tsdb.path; restore: the empty dir to restore its TSDB into",
        )


def run(command: str, args: Any, env: dict[str, str], on_done: OnDone | None = None) -> int:
    """``monitoring backup`` / ``monitoring restore``: 0 on success, 1 on failure with the reason on stderr."""
    import sys

    from monitoring.backup_crypto import BackupKeyError, CorruptBackup, WrongBackupKey, key_from_environ
    from monitoring.settings import Settings

    settings = Settings.from_environ(env)
    stores = Stores(
        postgres_uri=settings.postgres_uri.reveal() if settings.postgres_uri else None,
        mongodb_uri=settings.mongodb_uri.reveal() if settings.mongodb_uri else None,
        prometheus_url=args.prometheus_url,
        prometheus_data=args.prometheus_data,
        events_retention_seconds=settings.retention.events_seconds,
    )
    try:
        key = key_from_environ(env)
        if command == "backup":
            manifest = create_backup(args.out, key, stores, on_done=on_done)
            print(f"backup written to {args.out}: {_summary(manifest)}")
        else:
            manifest = restore_backup(args.archive, key, stores, force=args.force, on_done=on_done)
            print(f"restored {args.archive}: {_summary(manifest)}")
    except (BackupKeyError, WrongBackupKey, CorruptBackup, BackupFailed, RestoreRefused, ArchiveMismatch) as exc:
        print(f"monitoring {command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"monitoring {command}: {exc}", file=sys.stderr)
        return 1
    return 0
