"""The ``monitoring`` command: one entry point for every deployable and tool."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from monitoring.catalogue import SCHEMA_DIR, generated_schemas
from monitoring.logs import configure_logging
from monitoring.settings import ConfigError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["exporter"]:
        # A long-running deployable starts without the tools' modules and what they load
        # (cryptography, promql-parser, Jinja2, ...): 14 MiB less resident memory (docs/metrics.md).
        try:
            return _exporter()
        except ConfigError as exc:
            print(f"monitoring exporter: configuration error: {exc}", file=sys.stderr)
            return 2
    return _commands(arguments)


def _commands(argv: Sequence[str]) -> int:
    from ops import keys, report, simulate
    from ops.backup import commands as backup
    from ops.local import stack as local_stack
    from ops.recovery import commands as recovery
    from ops.rules import cli as rules

    parser = argparse.ArgumentParser(prog="monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("exporter", help="run the Prometheus exporter")
    sub.add_parser("receiver", help="run the alert receiver under gunicorn")
    run = sub.add_parser("run", help="run the whole pipeline locally with a demo fault, print the URLs")
    local_stack.add_arguments(run)
    sub.add_parser("config", help="print the effective configuration (secrets masked)")
    schemas = sub.add_parser("schemas", help="JSON Schemas of the event catalogue")
    schemas.add_argument("--write", action="store_true", help=f"write them to {SCHEMA_DIR}")
    simulate.register(sub)
    recovery.register(sub)
    backup.add_arguments(
        sub.add_parser("backup", help="write an encrypted archive of PostgreSQL, MongoDB and a Prometheus snapshot"),
        sub.add_parser("restore", help="restore an archive written by `monitoring backup` into empty stores"),
    )
    sub.add_parser("purge", help="delete alert history past RETENTION_ALERTS now (the receiver also does it hourly)")
    keys.add_arguments(sub)
    rules.register(sub)
    report.add_arguments(sub)
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
                return backup.run(args.command, args, dict(os.environ))
            case "purge":
                return _purge()
            case "keys":
                return keys.run(args, os.environ, sys.stdout)
            case "rules":
                return rules.run(args, os.environ, sys.stdout)
            case "report":
                return report.run(args, os.environ, sys.stdout)
            case command if command in simulate.COMMANDS:
                return simulate.run(args)
            case command if command in recovery.COMMANDS:
                return recovery.run(args, os.environ)
    except ConfigError as exc:
        print(f"monitoring {args.command}: configuration error: {exc}", file=sys.stderr)
        return 2
    return 2


def _exporter() -> int:
    from exporter.config import ExporterConfig
    from exporter.main import run
    from simulator.platform import PlatformModel

    config = ExporterConfig.from_environ(os.environ)
    configure_logging(config.shared.log_format, config.shared.log_level)
    return run(config, PlatformModel(seed=0))  # the platform's events when KAFKA_BROKERS is unset


def _receiver() -> int:
    import structlog

    from monitoring.tracing import exporters_from
    from receiver.config.settings import ReceiverConfig
    from receiver.operations import preflight

    config = ReceiverConfig.from_environ(os.environ)  # fail fast, before gunicorn forks workers
    exporters_from(os.environ)  # the OTEL_* tracing choice too
    configure_logging(config.shared.log_format, config.shared.log_level)
    for warning in preflight(config):  # once per start, not once per worker
        structlog.get_logger("receiver").warning(warning)
    os.execvp(  # noqa: S606 - replace this process with gunicorn, arguments are fixed
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:receiver.web.gunicorn_conf",
            "receiver.web.app:create_app_from_environ()",
        ],
    )


def _purge() -> int:
    from receiver.operations import DatabaseUnavailable, purge_from_environ

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
    """The whole pipeline on this machine (see ops.local.stack); Ctrl-C or SIGTERM stops it."""
    from ops.local import stack as local_stack
    from ops.local.supervision import StackFailed

    try:
        return local_stack.run(args, os.environ)
    except StackFailed as exc:
        print(f"monitoring run: {exc}", file=sys.stderr)
        return 1


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
