"""The receiver's entry points for operations: what the ``monitoring`` command (``ops/``) may use.

``ops`` imports this module and ``receiver.config``, never the stages below them (web, intake,
delivery, store): an import-linter ``protected`` contract in pyproject.toml keeps it so. Each entry
point opens what it needs from a configuration (or an environment) and closes it again; the rest
are the names a command needs to talk about what it finds (roles, audit actions, errors).
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Mapping

from receiver.config.settings import ReceiverConfig
from receiver.delivery.deadmans_switch import is_watchdog
from receiver.store.api_keys import KeyNotFound, Role, SqlKeyStore
from receiver.store.audit import BACKUP, RESEND, RESTORE, SUCCESS, VERIFY_REPAIR, SqlAuditLog
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase, open_database
from receiver.store.repair import Repairs, Resent, resend
from receiver.store.retention import RETAINED_WITH_ALERTS, AlertRetention, PurgeResult, audit_purger, incident_purger
from receiver.store.sql_history import SqlAlertHistory

__all__ = [
    "BACKUP",
    "RESEND",
    "RESTORE",
    "SUCCESS",
    "VERIFY_REPAIR",
    "Database",
    "DatabaseUnavailable",
    "KeyNotFound",
    "PostgresDatabase",
    "PurgeResult",
    "Repairs",
    "Resent",
    "Role",
    "SqlAuditLog",
    "SqlKeyStore",
    "SqliteDatabase",
    "is_watchdog",
    "migrate",
    "open_database",
    "open_key_store",
    "purge_from_environ",
    "record_from_cli",
    "resend",
]

Database = PostgresDatabase | SqliteDatabase


def migrate(database: Database, target: int | None = None) -> int:
    """Bring the receiver's schema to ``target`` (the newest when None); return the version."""
    return SqlAlertHistory(database).migrate(target)


def open_key_store(env: Mapping[str, str]) -> tuple[SqlKeyStore, Database]:
    """The API-key store of the receiver's database (migrated first); the caller closes the database."""
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    migrate(database)
    return SqlKeyStore(database, SqlAuditLog(database, time.time), time.time), database


def purge_from_environ(env: Mapping[str, str], clock: Callable[[], float] = time.time) -> PurgeResult:
    """``monitoring purge``: one purge of the receiver's database past RETENTION_ALERTS."""
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    try:
        return AlertRetention(
            database,
            config.shared.retention.alerts_seconds,
            clock,
            extra=RETAINED_WITH_ALERTS,
            purgers=(incident_purger(database), audit_purger(database)),
        ).purge()
    finally:
        database.close()


def record_from_cli(env: Mapping[str, str], action: str, target: str, detail: str) -> None:
    """Append a successful command-line change (``monitoring backup``/``restore``) to the receiver's
    audit log, as ``cli:<operating-system user>`` from ``cli``."""
    database = open_database(ReceiverConfig.from_environ(env))
    try:
        SqlAuditLog(database, time.time).record(f"cli:{getpass.getuser()}", action, target, "cli", SUCCESS, detail)
    finally:
        database.close()
