"""`monitoring run` (`make run`): the whole pipeline on one machine, without Docker.

Starts, each as a child process with its log under ``<run dir>/logs/``:

1. node-exporter (Debian ``prometheus-node-exporter``)
2. the fake platform services (asset-, portfolio-, transaction-service) playing the demo
   scenario ``simulator/scenarios/demo.yaml``: transaction-service goes down 30 s after start
3. the receiver (gunicorn; SQLite unless ``POSTGRES_URI`` is set) with the ``file`` channel,
   and the alert console at ``/console/``
4. the exporter, fed by the in-process simulator when ``KAFKA_BROKERS`` is unset, health-checking
   the platform services
5. Alertmanager and Prometheus on a *demo overlay* of the shipped configuration
   (``ops.local.fast_config``: every duration divided by ``DEMO_SPEED.speedup``, scrape and
   evaluation every second, thresholds, labels and routes as shipped), written to the run dir.

It prints every URL, then every notification the receiver writes to its file channel.
Ctrl-C or SIGTERM stops the children in reverse order (TERM, then KILL after a grace period).
Children run in their own session, so only this process sees the terminal's Ctrl-C, and on
Linux they also get SIGTERM should this process die without cleaning up.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from exporter.config import ExporterConfig
from monitoring.settings import Settings
from ops.local.configuration import (
    DEFAULT_RUN_DIR,
    DEMO_SCENARIO,
    DEMO_SPEED,
    Layout,
    Ports,
    incident_settings,
    prometheus_argv,
    write_demo_config,
)
from ops.local.host import can_install_tools, check_ports, ensure_tools, install_tools
from ops.local.supervision import StackFailed, Stopped, Supervisor
from receiver.config.settings import ReceiverConfig
from receiver.operations import Role, open_key_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="generated config, data and logs")
    parser.add_argument("--node-exporter-port", type=int, default=9100)
    parser.add_argument("--platform-port", type=int, default=9400, help="first of three ports (0: any free ports)")


def _child_env(env: Mapping[str, str], **values: str) -> dict[str, str]:
    return {**env, "PYTHONUNBUFFERED": "1", **values}


def _defaults(env: Mapping[str, str], **values: str) -> dict[str, str]:
    """``values`` for the variables the user has not set."""
    return {k: v for k, v in values.items() if not env.get(k)}


class NotificationTail:
    """Follows the file channel's JSON lines and prints each notification's title."""

    def __init__(self, path: Path, out: IO[str]) -> None:
        self._path = path
        self._out = out
        self._offset = 0
        self._partial = b""

    def poll(self) -> int:
        try:
            with self._path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            try:
                document = json.loads(line)
                print(f"notification: {document['title']} (alert {document['alert']['id']})", file=self._out)
                links = document.get("links") or {}
                for name in ("acknowledge", "runbook", "console"):
                    if links.get(name):
                        print(f"  {name:12} {links[name]}", file=self._out)
            except (ValueError, KeyError, TypeError, AttributeError):
                print(f"notification (unreadable line): {line[:200]!r}", file=self._out)
        if lines:
            self._out.flush()
        return len(lines)


def run(args: argparse.Namespace, env: Mapping[str, str], out: IO[str] = sys.stdout) -> int:
    settings = Settings.from_environ(env)
    ExporterConfig.from_environ(env)  # fail fast on bad configuration, naming the variable
    ReceiverConfig.from_environ(env)
    tools = ensure_tools(can_install=can_install_tools(), install=install_tools)
    platform = args.platform_port
    check_ports(
        {
            "receiver": settings.receiver_port,
            "exporter": settings.exporter_port,
            "prometheus": settings.prometheus_port,
            "alertmanager": settings.alertmanager_port,
            "node-exporter": args.node_exporter_port,
            **({f"platform {platform + i}": platform + i for i in range(3)} if platform else {}),
        }
    )
    layout = Layout(args.run_dir.resolve())
    layout.prepare()
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    supervisor = Supervisor(layout.logs, lambda: stopping)
    failure: str | None = None
    try:
        started = time.monotonic()
        _start(supervisor, args, settings, env, layout, tools, out)
        print(f"  started in {time.monotonic() - started:.0f}s; notifications follow", file=out)
        out.flush()
        tail = NotificationTail(layout.notifications, out)
        while not stopping:
            tail.poll()
            if (dead := supervisor.exited()) is not None:
                failure = f"{dead.name} exited with {dead.proc.returncode}:\n{dead.log_tail()}"
                break
            time.sleep(0.2)
        tail.poll()
    except Stopped:
        pass
    except StackFailed as exc:
        failure = str(exc)
    codes = supervisor.stop_all()
    # Children stopped by our SIGTERM may report it as their exit status (Go programs without a handler).
    failed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGTERM)}
    if failure or failed:
        print(f"monitoring run: stopped with failures: {failure or failed}", file=sys.stderr)
        return 1
    print("monitoring stack stopped", file=out, flush=True)
    return 0


def _start(
    supervisor: Supervisor,
    args: argparse.Namespace,
    settings: Settings,
    env: Mapping[str, str],
    layout: Layout,
    tools: Mapping[str, str],
    out: IO[str],
) -> None:
    python = [sys.executable, "-m", "ops.cli"]
    node = supervisor.start(
        "node-exporter",
        [
            tools["prometheus-node-exporter"],
            f"--web.listen-address=127.0.0.1:{args.node_exporter_port}",
            "--no-collector.systemd",  # Debian enables it; it needs the system bus
        ],
        env,
    )
    supervisor.wait_ready(node, f"http://127.0.0.1:{args.node_exporter_port}/")

    fake = supervisor.start(
        "fake-services",
        [*python, "fake-services", "--scenario", str(DEMO_SCENARIO), "--port", str(args.platform_port)],
        _child_env(env),
    )
    found = supervisor.wait_log(fake, re.compile(r"^(\S+-service)\s+http://127\.0\.0\.1:(\d+)/metrics", re.M), 3)
    fault_at = time.monotonic() + 30
    ports = Ports(
        receiver=settings.receiver_port,
        exporter=settings.exporter_port,
        prometheus=settings.prometheus_port,
        alertmanager=settings.alertmanager_port,
        node_exporter=args.node_exporter_port,
        platform={name: int(port) for name, port in found},
    )
    token = env.get("RECEIVER_WEBHOOK_TOKEN") or secrets.token_urlsafe(24)
    prometheus_config, alertmanager_config = write_demo_config(layout, ports, token)

    # Signs this run's acknowledge links (unless the user brought a key).
    ack_secret = (
        {} if env.get("RECEIVER_ACK_SECRET_FILE") else _defaults(env, RECEIVER_ACK_SECRET=secrets.token_urlsafe(48))
    )
    receiver_env = _child_env(
        env,
        **_defaults(
            env,
            RECEIVER_SQLITE_PATH=str(layout.root / "alerts.sqlite3"),
            RECEIVER_ROUTING_FILE=str(layout.routing),
            RECEIVER_POLL_INTERVAL="500ms",
            **incident_settings(DEMO_SPEED, ReceiverConfig.from_environ(env)),
            # notifications link to this run's console, acknowledge page and runbooks
            RECEIVER_EXTERNAL_URL=f"http://127.0.0.1:{ports.receiver}",
        ),
        **ack_secret,
        RECEIVER_WEBHOOK_TOKEN=token,
        RECEIVER_FILE_CHANNEL_PATH=str(layout.notifications),
        PROMETHEUS_MULTIPROC_DIR=str(layout.root / "receiver-metrics"),
    )
    _write_admin_key(layout, receiver_env)
    receiver = supervisor.start("receiver", [*python, "receiver"], receiver_env)
    exporter_env = _child_env(
        env,
        **_defaults(
            env,
            EXPORTER_HEALTH_CHECKS=str(layout.health_checks),
            EXPORTER_SPOOL_PATH=str(layout.root / "spool.sqlite3"),
            EXPORTER_EVENT_STORE_PATH=str(layout.root / "events.sqlite3"),
            COLLECTION_INTERVAL="1s",
        ),
    )
    exporter = supervisor.start("exporter", [*python, "exporter"], exporter_env)
    supervisor.wait_ready(receiver, f"http://127.0.0.1:{ports.receiver}/readyz")
    supervisor.wait_ready(exporter, f"http://127.0.0.1:{ports.exporter}/readyz")

    alertmanager = supervisor.start(
        "alertmanager",
        [
            tools["prometheus-alertmanager"],
            f"--config.file={alertmanager_config}",
            f"--storage.path={layout.alertmanager / 'data'}",
            f"--web.listen-address=127.0.0.1:{ports.alertmanager}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        env,
    )
    prometheus = supervisor.start(
        "prometheus",
        prometheus_argv(tools["prometheus"], prometheus_config, layout.prometheus / "data", ports.prometheus, settings),
        env,
    )
    supervisor.wait_ready(alertmanager, f"http://127.0.0.1:{ports.alertmanager}/-/ready")
    supervisor.wait_ready(prometheus, f"http://127.0.0.1:{ports.prometheus}/-/ready")
    database = ReceiverConfig.from_environ(receiver_env).database_label
    _print_urls(out, ports, layout, database, max(0.0, fault_at - time.monotonic()))


def _write_admin_key(layout: Layout, receiver_env: Mapping[str, str]) -> None:
    """An admin API key for the console and the API, in a 0600 file (never printed or logged)."""
    store, database = open_key_store(receiver_env)
    try:
        token = store.create("monitoring run", Role.ADMIN, "cli:monitoring-run", "cli").token
    finally:
        database.close()
    layout.api_key.write_text(token)
    layout.api_key.chmod(0o600)


def _print_urls(out: IO[str], ports: Ports, layout: Layout, database: str, fault_in: float) -> None:
    receiver = f"http://127.0.0.1:{ports.receiver}"
    rows = [
        ("alert console", f"{receiver}/console/"),
        ("alert history API", f"{receiver}/api/v1/alerts"),
        ("receiver readiness", f"{receiver}/readyz"),
        ("exporter metrics", f"http://127.0.0.1:{ports.exporter}/metrics"),
        ("exporter readiness", f"http://127.0.0.1:{ports.exporter}/readyz"),
        ("prometheus", f"http://127.0.0.1:{ports.prometheus}/alerts"),
        ("alertmanager", f"http://127.0.0.1:{ports.alertmanager}/#/alerts"),
        ("node-exporter", f"http://127.0.0.1:{ports.node_exporter}/metrics"),
        *((name, f"http://127.0.0.1:{port}/metrics") for name, port in ports.platform.items()),
        ("API key (admin)", f"{layout.api_key} (sign in to the console with it)"),
        ("notifications file", str(layout.notifications)),
        ("logs", str(layout.logs)),
    ]
    print("monitoring stack running (Ctrl-C stops everything):", file=out)
    for name, value in rows:
        print(f"  {name:20} {value}", file=out)
    print(f"  {'alert history':20} {database}", file=out)
    print(
        f"  demo: transaction-service goes down in {fault_in:.0f}s and comes back 2 minutes later; "
        "ServiceDown (critical) notifies within seconds of the outage",
        file=out,
    )
    out.flush()
