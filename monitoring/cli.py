"""The ``monitoring`` command: one entry point for every deployable and tool."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import msgspec

from monitoring.catalogue import CATALOGUE
from monitoring.logs import configure_logging
from monitoring.settings import ConfigError, Settings
from simulator import commands as simulator_commands

SCHEMA_DIR = Path(__file__).parent / "schemas"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="monitoring", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("exporter", help="run the Prometheus exporter")
    sub.add_parser("receiver", help="run the alert receiver under gunicorn")
    sub.add_parser("run", help="run the exporter and the receiver together, print their URLs")
    sub.add_parser("config", help="print the effective configuration (secrets masked)")
    schemas = sub.add_parser("schemas", help="JSON Schemas of the event catalogue")
    schemas.add_argument("--write", action="store_true", help=f"write them to {SCHEMA_DIR}")
    simulator_commands.register(sub)
    args = parser.parse_args(argv)
    try:
        match args.command:
            case "exporter":
                return _exporter()
            case "receiver":
                return _receiver()
            case "run":
                return _run()
            case "config":
                print(Settings.from_environ(os.environ))
                return 0
            case "schemas":
                return _schemas(write=args.write)
            case command if command in simulator_commands.COMMANDS:
                return simulator_commands.run(args)
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


def _run() -> int:
    """Start the exporter and receiver as child processes; stop both on Ctrl-C or SIGTERM."""
    settings = Settings.from_environ(os.environ)
    from exporter.config import ExporterConfig
    from receiver.config import ReceiverConfig

    ExporterConfig.from_environ(os.environ)
    receiver_config = ReceiverConfig.from_environ(os.environ)
    children = {
        name: subprocess.Popen([sys.executable, "-m", "monitoring.cli", name]) for name in ("exporter", "receiver")
    }
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    urls = {
        "exporter metrics": f"http://127.0.0.1:{settings.exporter_port}/metrics",
        "exporter health": f"http://127.0.0.1:{settings.exporter_port}/healthz",
        "receiver health": f"http://127.0.0.1:{settings.receiver_port}/healthz",
        "receiver readiness": f"http://127.0.0.1:{settings.receiver_port}/readyz",
    }
    healthy = _wait_healthy([urls["exporter health"], urls["receiver health"]], children, 30.0)
    if healthy:
        print("monitoring stack running (Ctrl-C to stop):", flush=True)
        for name, url in urls.items():
            print(f"  {name:20} {url}", flush=True)
        print(f"  alert history        {receiver_config.database_label}", flush=True)
    while healthy and not stopping and all(p.poll() is None for p in children.values()):
        time.sleep(0.2)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    codes = {name: proc.wait(timeout=30) for name, proc in children.items()}
    failed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
    if failed or not healthy:
        print(f"monitoring run: stopped with failures: {failed or 'not healthy in 30s'}", file=sys.stderr)
        return 1
    print("monitoring stack stopped", flush=True)
    return 0


def _wait_healthy(urls: list[str], children: dict[str, subprocess.Popen[bytes]], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        if any(p.poll() is not None for p in children.values()):
            return False
        try:
            with urllib.request.urlopen(pending[0], timeout=1) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    pending.pop(0)
                    continue
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return not pending


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
