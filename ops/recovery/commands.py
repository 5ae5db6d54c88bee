"""The command line of ``monitoring status``, ``monitoring verify`` and ``monitoring resend``
(registered by ``ops.cli``). ``resend`` puts dead-lettered or failing notifications back in the
outbox, so the normal delivery worker sends them; a job already re-queued or delivered is left
alone (idempotent). The adapters (HTTP session, database, event store, clock) are built here and
passed in.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pymongo
import requests

from monitoring.eventstore import EventStore, EventStoreUnavailable
from monitoring.eventstore.mongo import MongoEventStore
from monitoring.eventstore.sqlite import SqliteEventStore
from monitoring.settings import Settings, parse_duration
from ops.recovery.status import base_url, check_all, components, render_status, status_exit_code
from ops.recovery.verify import AlertmanagerApi, Verifier, render_discrepancies, verify_exit_code
from ops.tables import table
from receiver.config.settings import ReceiverConfig
from receiver.operations import (
    SUCCESS,
    VERIFY_REPAIR,
    DatabaseUnavailable,
    Resent,
    SqlAuditLog,
    open_database,
    resend,
)


def render_resent(resent: Sequence[Resent], as_json: bool) -> str:
    if as_json:
        return json.dumps({"jobs": [asdict(r) for r in resent]})
    if not resent:
        return "nothing to resend"
    rows = [(str(r.job_id), str(r.alert_id), r.channel, r.action, r.previous, r.outcome) for r in resent]
    return table(("job", "alert", "channel", "action", "was", "outcome"), rows)


COMMANDS = ("status", "verify", "resend")


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="health of every component and dependency; exit 1 if one is down")
    status.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    status.add_argument("--timeout", type=float, default=3.0, help="seconds per check (default 3)")
    status.add_argument(
        "--optional",
        action="append",
        default=None,
        help="a component whose failure does not fail the command (repeatable; default: node-exporter)",
    )
    verify = sub.add_parser("verify", help="check Alertmanager vs history, outbox jobs and domain events")
    verify.add_argument("--repair", action="store_true", help="fix the safe discrepancies (see docs/runbook.md)")
    verify.add_argument("--grace", default="10m", help="age before something counts as stuck (default 10m)")
    verify.add_argument("--json", action="store_true")
    verify.add_argument("--no-alertmanager", action="store_true", help="skip the Alertmanager comparison")
    resend_parser = sub.add_parser("resend", help="re-deliver dead-lettered or failing notifications")
    which = resend_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", type=int, help="one outbox job by id")
    which.add_argument("--dead-lettered", action="store_true", help="every dead-lettered job")
    which.add_argument("--failed", action="store_true", help="every job waiting for a retry: retry now")
    resend_parser.add_argument("--since", help="only jobs created within this duration, e.g. 2h")
    resend_parser.add_argument("--channel", help="only jobs of this channel")
    resend_parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, env: Mapping[str, str], out: Callable[[str], None] = print) -> int:
    session = requests.Session()
    if args.command == "status":
        settings = Settings.from_environ(env)
        statuses = check_all(components(env, settings, args.optional or ("node-exporter",)), session, args.timeout)
        out(render_status(statuses, args.json))
        return status_exit_code(statuses)
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    try:
        if args.command == "resend":
            since = parse_duration(args.since) if args.since else None
            resent = resend(
                database,
                time.time,
                audit=SqlAuditLog(database, time.time),
                actor=f"cli:{getpass.getuser()}",
                job_id=args.job,
                dead_lettered=args.dead_lettered,
                failed=args.failed,
                since=since,
                channel=args.channel,
            )
            out(render_resent(resent, args.json))
            return 1 if args.job is not None and not resent else 0
        store, close_store = _event_store(config)
        alertmanager = None
        if not args.no_alertmanager:
            alertmanager = AlertmanagerApi(base_url(env, config.shared, "alertmanager"), session)
        try:
            found = Verifier(
                database, time.time, grace=parse_duration(args.grace), alertmanager=alertmanager, store=store
            ).run(args.repair)
        finally:
            close_store()
        audit = SqlAuditLog(database, time.time)
        for item in found:
            if item.repaired:
                audit.record(
                    f"cli:{getpass.getuser()}", VERIFY_REPAIR, item.subject, "cli", SUCCESS, f"{item.check} {item.kind}"
                )
        out(render_discrepancies(found, args.json))
        return verify_exit_code(found)
    except (DatabaseUnavailable, EventStoreUnavailable, requests.RequestException) as exc:
        out(f"monitoring {args.command}: cannot check: {type(exc).__name__}: {exc}")
        return 2
    finally:
        database.close()


def _event_store(config: ReceiverConfig) -> tuple[EventStore, Callable[[], None]]:
    shared = config.shared
    if shared.mongodb_uri is None:
        return SqliteEventStore(config.event_store_path, shared.retention.events_seconds), lambda: None
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        shared.mongodb_uri.reveal(), serverSelectionTimeoutMS=5000
    )
    return MongoEventStore(client.get_default_database("monitoring"), shared.retention.events_seconds), client.close
