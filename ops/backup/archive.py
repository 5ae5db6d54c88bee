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
(``ops.backup.crypto``). Restore checks every member's checksum before touching a store,
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymongo
import requests

from ops.backup.crypto import DecryptingReader, EncryptingWriter
from ops.backup.errors import ArchiveMismatch, BackupFailed, RestoreRefused
from ops.backup.mongo import dump_mongo, restore_mongo
from ops.backup.postgres import dump_postgres, restore_postgres

FORMAT = 1
MANIFEST = "manifest.json"
_READ = 1 << 16

OnDone = Callable[[str, str], None]  # (action: "backup" | "restore", detail): e.g. the audit log


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
                manifest["postgres"] = dump_postgres(stores.postgres_uri, staging / "postgres")
            if stores.mongodb_uri is not None:
                manifest["mongodb"] = dump_mongo(stores.mongodb_uri, staging / "mongodb")
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
        on_done("backup", f"{out}: {summary(manifest)}")
    return manifest


def summary(manifest: dict[str, Any]) -> str:
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
                restore_postgres(stores.postgres_uri, manifest["postgres"], members / "postgres", force=force)
            if "mongodb" in manifest and stores.mongodb_uri is not None:
                restore_mongo(
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
        on_done("restore", f"{path}: {summary(manifest)}")
    return manifest
