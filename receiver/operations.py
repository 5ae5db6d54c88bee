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
from pathlib import Path

from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.config.topology import Topology
from receiver.delivery.deadmans_switch import is_watchdog
from receiver.delivery.templates import MessageTemplates
from receiver.intake.correlation import IncidentRules
from receiver.intake.incident_replay import ESCALATE, PAGE, UPDATE, IncidentReplay
from receiver.reports.document import report_document
from receiver.reports.figures import EVERYTHING, Report, read_report
from receiver.reports.parameters import PARAMETERS as REPORT_PARAMETERS
from receiver.reports.parameters import ParameterInvalid, parse_request
from receiver.reports.percentiles import Spread
from receiver.store.api_keys import KeyNotFound, Role, SqlKeyStore
from receiver.store.audit import BACKUP, RESEND, RESTORE, SUCCESS, VERIFY_REPAIR, SqlAuditLog
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase, open_database
from receiver.store.repair import Repairs, Resent, resend
from receiver.store.reports import GroupBy
from receiver.store.retention import RETAINED_WITH_ALERTS, AlertRetention, PurgeResult, audit_purger, incident_purger
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports

__all__ = [
    "BACKUP",
    "ESCALATE",
    "PAGE",
    "REPORT_PARAMETERS",
    "RESEND",
    "RESTORE",
    "SUCCESS",
    "UPDATE",
    "VERIFY_REPAIR",
    "Database",
    "DatabaseUnavailable",
    "GroupBy",
    "IncidentReplay",
    "KeyNotFound",
    "ParameterInvalid",
    "PostgresDatabase",
    "PurgeResult",
    "Repairs",
    "Report",
    "Resent",
    "Role",
    "Spread",
    "SqlAuditLog",
    "SqlKeyStore",
    "SqliteDatabase",
    "incident_replay",
    "is_watchdog",
    "migrate",
    "open_database",
    "open_key_store",
    "preflight",
    "purge_from_environ",
    "record_from_cli",
    "report_document",
    "report_from_environ",
    "resend",
]

Database = PostgresDatabase | SqliteDatabase


def incident_replay(config: ReceiverConfig, topology_file: Path | None = None) -> IncidentReplay | None:
    """The receiver's incident rules over ``topology_file`` (else RECEIVER_TOPOLOGY_FILE), replayed in
    memory with the configuration's window and cool-down; None when there is no topology (every
    alert pages on its own). ``ConfigError`` names a bad file's line."""
    path = topology_file or config.topology_file
    if path is None:
        return None
    rules = IncidentRules(Topology.from_file(path), config.incident_window, config.incident_cooldown)
    return IncidentReplay(rules)


def migrate(database: Database, target: int | None = None) -> int:
    """Bring the receiver's schema to ``target`` (the newest when None); return the version."""
    return SqlAlertHistory(database).migrate(target)


def preflight(config: ReceiverConfig) -> list[str]:
    """What `monitoring receiver` checks once, before gunicorn starts its workers: the message
    templates of RECEIVER_TEMPLATE_DIR and the topology of RECEIVER_TOPOLOGY_FILE (``ConfigError``
    names a bad one's file and line), and what the notifications will lack, as warnings to log."""
    MessageTemplates(config.notifications.template_dir)
    if config.topology_file is not None:
        Topology.from_file(config.topology_file)
    notifications = config.notifications
    warnings = []
    if notifications.external_url is None:
        warnings.append(
            "RECEIVER_EXTERNAL_URL is not set: notifications carry no console or acknowledge links "
            "(and no runbook link where a rule gives a path instead of a URL)"
        )
    elif notifications.ack_secret is None:
        warnings.append("RECEIVER_ACK_SECRET is not set: notifications carry no one-click acknowledge links")
    return warnings


def open_key_store(env: Mapping[str, str]) -> tuple[SqlKeyStore, Database]:
    """The API-key store of the receiver's database (migrated first); the caller closes the database."""
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    migrate(database)
    return SqlKeyStore(database, SqlAuditLog(database, time.time), time.time), database


def purge_from_environ(env: Mapping[str, str], clock: Callable[[], float] = time.time) -> PurgeResult:
    """``monitoring purge``: one purge of the receiver's database past RETENTION_ALERTS, migrated first
    (a purge scheduled before the receiver's first start, or after an upgrade, finds every table)."""
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    try:
        migrate(database)
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


def report_from_environ(
    env: Mapping[str, str], args: Mapping[str, str], clock: Callable[[], float] = time.time
) -> Report:
    """``monitoring report``: every figure of the alert-quality report over the receiver's database, for
    the report parameters in ``args`` (``ParameterInvalid`` names a bad one). Reads only: no migration."""
    config = ReceiverConfig.from_environ(env)
    request = parse_request(args, config.reports, clock())
    policy = RoutingPolicy.from_file(config.routing_file) if config.routing_file else RoutingPolicy()
    database = open_database(config)
    try:
        return read_report(SqlReports(database), request, policy, EVERYTHING)
    finally:
        database.close()
