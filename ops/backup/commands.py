"""The command line of ``monitoring backup`` and ``monitoring restore`` (registered by ``ops.cli``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from monitoring.settings import Settings
from ops.backup.archive import Stores, create_backup, restore_backup, summary
from ops.backup.crypto import BackupKeyError, CorruptBackup, WrongBackupKey, key_from_environ
from ops.backup.errors import ArchiveMismatch, BackupFailed, RestoreRefused
from receiver.operations import DatabaseUnavailable, record_from_cli


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


def run(command: str, args: Any, env: dict[str, str]) -> int:
    """``monitoring backup`` / ``monitoring restore``: 0 on success, 1 on failure with the reason on stderr.
    Each success is recorded in the receiver's audit log (after a restore: in the restored database)."""

    def on_done(action: str, detail: str) -> None:
        try:
            record_from_cli(env, action, detail.split(":", 1)[0], detail)
        except DatabaseUnavailable as exc:  # the change is done: say so rather than fail it
            print(f"monitoring {action}: done, but its audit entry was not written: {exc}", file=sys.stderr)

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
            print(f"backup written to {args.out}: {summary(manifest)}")
        else:
            manifest = restore_backup(args.archive, key, stores, force=args.force, on_done=on_done)
            print(f"restored {args.archive}: {summary(manifest)}")
    except (BackupKeyError, WrongBackupKey, CorruptBackup, BackupFailed, RestoreRefused, ArchiveMismatch) as exc:
        print(f"monitoring {command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"monitoring {command}: {exc}", file=sys.stderr)
        return 1
    return 0
