"""The ``monitoring`` command: one entry point for every deployable and tool."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from monitoring import recovery
from monitoring.catalogue import CATALOGUE
from monitoring.logs import configure_logging
from monitoring.settings import ConfigError, Settings
from ops.rules import cli as rules_cli
from simulator import commands as simulator_commands

SCHEMA_DIR = Path(__file__).parent / "schemas"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("exporter", help="run the Prometheus exporter")
    sub.add_parser("receiver", help="run the alert receiver under gunicorn")
    run = sub.add_parser("run", help="run the whole pipeline locally with a demo fault, print the URLs")
    from monitoring import local_stack

    local_stack.add_arguments(run)
    sub.add_parser("config", help="print the effective configuration (secrets masked)")
    schemas = sub.add_parser("schemas", help="JSON Schemas of the event catalogue")
    schemas.add_argument("--write", action="store_true", help=f"write them to {SCHEMA_DIR}")
    simulator_commands.register(sub)
    recovery.register(sub)
    from monitoring import backup

    backup.add_arguments(
        sub.add_parser("backup", help="write an encrypted archive of PostgreSQL, MongoDB and a Prometheus snapshot"),
        sub.add_parser("restore", help="restore an archive written by `monitoring backup` into empty stores"),
    )
    sub.add_parser("purge", help="delete alert history past RETENTION_ALERTS now (the receiver also does it hourly)")
    from receiver import keys_cli

    keys_cli.add_arguments(sub)
    rules_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        match args.command:
            case "exporter":
                return _exporter()
            case "receiver":
                return _receiver()
            case "run":
                return _run(args)
            case "config":
                print(Settings.from_environ(os.environ))
                return 0
            case "schemas":
                return _schemas(write=args.write)
            case "backup" | "restore":
                from receiver.audit import record_from_cli
                from receiver.database import DatabaseUnavailable

                environ = dict(os.environ)

                def audited(action: str, detail: str) -> None:  # into the restored database, after a restore
                    try:
                        record_from_cli(environ, action, detail.split(":", 1)[0], detail)
                    except DatabaseUnavailable as exc:  # the change is done: say so rather than fail it
                        print(f"monitoring {action}: done, but its audit entry was not written: {exc}", file=sys.stderr)

                return backup.run(args.command, args, environ, on_done=audited)
            case "purge":
                return _purge()
            case "keys":
                return keys_cli.run(args, os.environ, sys.stdout)
            case "rules":
                return rules_cli.run(args, os.environ, sys.stdout)
            case command if command in simulator_commands.COMMANDS:
                return simulator_commands.run(args)
            case command if command in recovery.COMMANDS:
                return recovery.run(args, os.environ)
    except ConfigError as exc:
        print(f"monitoring {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    return 2


def _exporter() -> int:
    from exporter.config import ExporterConfig
    from exporter.main import run

    config = ExporterConfig.from_environ(os.environ)
    configure_logging(config.shared.log_format, config.shared.log_level)
    return run(config)


def _receiver() -> int:
    from monitoring.tracing import exporters_from
    from receiver.config import ReceiverConfig

    ReceiverConfig.from_environ(os.environ)  # fail fast, before gunicorn forks workers
    exporters_from(os.environ)  # the OTEL_* tracing choice too
    os.execvp(  # noqa: S606 - replace this process with gunicorn, arguments are fixed
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:receiver.gunicorn_conf",
            "receiver.app:create_app_from_environ()",
        ],
    )


def _purge() -> int:
    from receiver.database import DatabaseUnavailable
    from receiver.retention import purge_from_environ

    try:
        result = purge_from_environ(os.environ)
    except DatabaseUnavailable as exc:
        print(f"monitoring purge: {exc}", file=sys.stderr)
        return 1
    if result.skipped:
        print("monitoring purge: another process holds the purge lock; it is purging now", file=sys.stderr)
        return 1
    others = "".join(f", {table} {count}" for table, count in result.other)
    print(f"purged alerts {result.alerts}, timeline {result.timeline}, outbox {result.outbox}{others}")
    return 0


def _run(args: argparse.Namespace) -> int:
    """The whole pipeline on this machine (see monitoring.local_stack); Ctrl-C or SIGTERM stops it."""
    from monitoring import local_stack

    try:
        return local_stack.run(args, os.environ)
    except local_stack.StackFailed as exc:
        print(f"monitoring run: {exc}", file=sys.stderr)
        return 1


def generated_schemas() -> dict[str, str]:
    """File name -> JSON Schema text for every catalogue type."""
    out = {}
    for name, cls in CATALOGUE.items():
        schema = msgspec.json.schema(cls)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name, **schema}
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def _schemas(*, write: bool) -> int:
    schemas = generated_schemas()
    if write:
        SCHEMA_DIR.mkdir(exist_ok=True)
        for old in SCHEMA_DIR.glob("*.json"):
            if old.name not in schemas:
                old.unlink()
        for file_name, text in schemas.items():
            (SCHEMA_DIR / file_name).write_text(text, encoding="utf-8")
        print(f"wrote {len(schemas)} schemas to {SCHEMA_DIR}")
    else:
        for file_name in schemas:
            print(file_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
