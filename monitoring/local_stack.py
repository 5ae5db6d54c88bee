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
   (``monitoring.fast_config``: every duration divided by ``DEMO_SPEED.speedup``, scrape and
   evaluation every second, thresholds, labels and routes as shipped), written to the run dir.

It prints every URL, then every notification the receiver writes to its file channel.
Ctrl-C or SIGTERM stops the children in reverse order (TERM, then KILL after a grace period).
Children run in their own session, so only this process sees the terminal's Ctrl-C, and on
Linux they also get SIGTERM should this process die without cleaning up.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from monitoring.fast_config import Speed, write_fast_config
from monitoring.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUN_DIR = REPO / ".cache" / "local-run"
DEMO_SCENARIO = REPO / "simulator" / "scenarios" / "demo.yaml"
TOOLS_SCRIPT = REPO / "scripts" / "services" / "tools.sh"
# Demo only: ten times faster than production (ServiceDown's 15 s `for:` becomes 2 s, a critical
# group's 5 s group_wait becomes 0 s); scrape and rule evaluation every second.
DEMO_SPEED = Speed(speedup=10.0, scrape_interval_seconds=1)
# binary -> Debian package
TOOLS = {
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "prometheus-node-exporter": "prometheus-node-exporter",
}
PLATFORM_SERVICES = ("asset-service", "portfolio-service", "transaction-service")
READY_TIMEOUT = 60.0
STOP_GRACE = 15.0
CLEARED_ON_START = ("logs", "prometheus", "alertmanager", "receiver-metrics", "notifications.jsonl")


class StackFailed(Exception):
    """The local stack could not start (missing tools, a child that died or never got ready)."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while starting."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="generated config, data and logs")
    parser.add_argument("--node-exporter-port", type=int, default=9100)
    parser.add_argument("--platform-port", type=int, default=9400, help="first of three ports (0: any free ports)")


# --- tools -------------------------------------------------------------------------------------


def find_tools(which: Callable[[str], str | None] = shutil.which) -> tuple[dict[str, str], list[str]]:
    """(binary -> path for those found, Debian packages of those missing)."""
    found = {binary: path for binary in TOOLS if (path := which(binary))}
    missing = sorted({package for binary, package in TOOLS.items() if binary not in found})
    return found, missing


def ensure_tools(
    which: Callable[[str], str | None] = shutil.which,
    *,
    can_install: bool,
    install: Callable[[], int],
) -> dict[str, str]:
    """The binaries' paths; installs the Debian packages first when allowed (root with apt-get)."""
    found, missing = find_tools(which)
    if missing and can_install:
        print(f"installing Debian packages: {' '.join(missing)} ...", flush=True)
        install()
        found, missing = find_tools(which)
    if missing:
        raise StackFailed(
            f"missing Debian packages: {' '.join(missing)}. Install them with\n"
            f"  sudo apt-get install {' '.join(missing)}\n"
            "or run `make services` as root (scripts/services/tools.sh installs them)."
        )
    return found


def _install_tools() -> int:
    return subprocess.call(["bash", str(TOOLS_SCRIPT), "install"])


def _can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None and TOOLS_SCRIPT.exists()


def busy_ports(wanted: Mapping[str, int]) -> dict[str, int]:
    """The ports in ``wanted`` that something already listens on (0 means any port: never busy)."""
    busy = {}
    for name, port in wanted.items():
        if port == 0:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy[name] = port
    return busy


def check_ports(wanted: Mapping[str, int]) -> None:
    busy = busy_ports(wanted)
    if busy:
        listed = ", ".join(f"{name} {port}" for name, port in busy.items())
        raise StackFailed(
            f"ports already in use: {listed}. Stop what listens there (after `apt-get install`, Debian starts "
            "its own prometheus, prometheus-alertmanager and prometheus-node-exporter services: "
            "`systemctl stop` them) or choose other ports: EXPORTER_PORT, RECEIVER_PORT, PROMETHEUS_PORT, "
            "ALERTMANAGER_PORT, --node-exporter-port, --platform-port (0: any free ports)."
        )


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    receiver: int
    exporter: int
    prometheus: int
    alertmanager: int
    node_exporter: int
    platform: dict[str, int] = field(default_factory=dict)  # filled in once the fake services listen


@dataclass(frozen=True)
class Layout:
    """Where everything lives under the run directory."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def alertmanager(self) -> Path:
        return self.root / "alertmanager"

    @property
    def notifications(self) -> Path:
        return self.root / "notifications.jsonl"

    @property
    def token(self) -> Path:
        return self.root / "receiver-token"

    @property
    def api_key(self) -> Path:
        return self.root / "receiver-api-key"

    @property
    def routing(self) -> Path:
        return self.root / "routing.yaml"

    @property
    def health_checks(self) -> Path:
        return self.root / "health-checks.yaml"

    def prepare(self) -> None:
        """Create the run dir; remove what a previous run generated (the SQLite stores are kept)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in CLEARED_ON_START:
            path = self.root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        self.logs.mkdir()


def routing_document() -> dict[str, Any]:
    """The shipped default routing with the ``file`` channel added everywhere and as fallback."""
    from receiver.routing import DEFAULT_PRIORITIES

    priorities = {
        priority.value: {
            "channels": list(dict.fromkeys((*policy.channels, "file"))),
            "escalation": list(dict.fromkeys((*policy.escalation, "file"))),
        }
        for priority, policy in DEFAULT_PRIORITIES.items()
    }
    return {"fallback": "file", "priorities": priorities}


def health_checks_document(ports: Ports) -> dict[str, Any]:
    return {
        "services": [
            {
                "name": name,
                "url": f"http://127.0.0.1:{ports.platform[name]}/health",
                "interval": "1s",
                "timeout": "500ms",
                "failures_to_down": 2,
                "successes_to_up": 1,
            }
            for name in PLATFORM_SERVICES
        ]
    }


def prometheus_document(document: dict[str, Any], ports: Ports, targets_dir: Path) -> dict[str, Any]:
    """Point every scrape job, the platform's file SD and the Alertmanager address at this run's ports."""
    static = {
        "prometheus": ports.prometheus,
        "exporter": ports.exporter,
        "receiver": ports.receiver,
        "alertmanager": ports.alertmanager,
        "node": ports.node_exporter,
    }
    jobs = []
    for job in document["scrape_configs"]:
        job = dict(job)
        name = job["job_name"]
        if name in static:
            job["static_configs"] = [{**c, "targets": [f"127.0.0.1:{static[name]}"]} for c in job["static_configs"]]
        elif "file_sd_configs" in job:
            job["file_sd_configs"] = [{"files": [str(targets_dir / "*.yml")], "refresh_interval": "1s"}]
        jobs.append(job)
    alerting = dict(document["alerting"])
    alerting["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}]
    return {**document, "scrape_configs": jobs, "alerting": alerting}


def write_demo_config(layout: Layout, ports: Ports, token: str) -> tuple[Path, Path]:
    """Prometheus (+ rules, targets) and Alertmanager demo overlays, receiver routing, health checks."""
    layout.token.write_text(token)
    layout.token.chmod(0o600)
    layout.routing.write_text(yaml.safe_dump(routing_document(), sort_keys=False))
    layout.health_checks.write_text(yaml.safe_dump(health_checks_document(ports), sort_keys=False))
    layout.prometheus.mkdir(exist_ok=True)
    layout.alertmanager.mkdir(exist_ok=True)
    prometheus_path, alertmanager_path = write_fast_config(
        REPO,
        layout.prometheus,
        DEMO_SPEED,
        webhook_url=f"http://127.0.0.1:{ports.receiver}/api/v1/alerts/alertmanager",
        credentials_file=str(layout.token),
    )
    targets = layout.prometheus / "targets"
    targets.mkdir(exist_ok=True)
    (targets / "platform.yml").write_text(
        yaml.safe_dump(
            [{"targets": [f"127.0.0.1:{ports.platform[s]}"], "labels": {"service": s}} for s in PLATFORM_SERVICES]
        )
    )
    document = yaml.safe_load(prometheus_path.read_text())
    prometheus_path.write_text(yaml.safe_dump(prometheus_document(document, ports, targets), sort_keys=False))
    moved = layout.alertmanager / "alertmanager.yml"
    alertmanager_path.replace(moved)
    return prometheus_path, moved


# --- processes ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the parent dies (Linux's PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Supervisor:
    """Owns the children: starts them in order, waits for readiness, stops them in reverse order."""

    def __init__(self, logs: Path, should_stop: Callable[[], bool]) -> None:
        self._logs = logs
        self._should_stop = should_stop
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        log_path = self._logs / f"{name}.log"
        log = log_path.open("wb")
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            start_new_session=True,  # Ctrl-C reaches only the supervisor, which stops children in order
            preexec_fn=_die_with_parent,  # only the main thread runs while children start
        )
        child = Child(name, proc, log_path, log)
        self.children.append(child)
        return child

    def wait_ready(self, child: Child, url: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check(child)
            try:
                with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our loopback URL
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise StackFailed(f"{child.name} not ready at {url} after {timeout:.0f}s:\n{child.log_tail()}")

    def wait_log(self, child: Child, pattern: re.Pattern[str], count: int, timeout: float = READY_TIMEOUT) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check(child)
            matches = pattern.findall(child.log_path.read_text(errors="replace"))
            if len(matches) >= count:
                return matches
            time.sleep(0.1)
        raise StackFailed(f"{child.name} printed no ports after {timeout:.0f}s:\n{child.log_tail()}")

    def _check(self, child: Child) -> None:
        if self._should_stop():
            raise Stopped
        if child.proc.poll() is not None:
            raise StackFailed(f"{child.name} exited with {child.proc.returncode}:\n{child.log_tail()}")

    def exited(self) -> Child | None:
        return next((c for c in self.children if c.proc.poll() is not None), None)

    def stop_all(self) -> dict[str, int]:
        """TERM every child (newest first), KILL those still running after the grace period."""
        codes: dict[str, int] = {}
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
                try:
                    child.proc.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait(5)
            codes[child.name] = child.proc.returncode
            child.log.close()
        return codes


# --- the run -------------------------------------------------------------------------------------


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
            except (ValueError, KeyError, TypeError):
                print(f"notification (unreadable line): {line[:200]!r}", file=self._out)
        if lines:
            self._out.flush()
        return len(lines)


def run(args: argparse.Namespace, env: Mapping[str, str], out: IO[str] = sys.stdout) -> int:
    settings = Settings.from_environ(env)
    from exporter.config import ExporterConfig
    from receiver.config import ReceiverConfig

    ExporterConfig.from_environ(env)  # fail fast on bad configuration, naming the variable
    ReceiverConfig.from_environ(env)
    tools = ensure_tools(can_install=_can_install(), install=_install_tools)
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
    python = [sys.executable, "-m", "monitoring.cli"]
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

    receiver_env = _child_env(
        env,
        **_defaults(
            env,
            RECEIVER_SQLITE_PATH=str(layout.root / "alerts.sqlite3"),
            RECEIVER_ROUTING_FILE=str(layout.routing),
            RECEIVER_POLL_INTERVAL="500ms",
        ),
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
    from receiver.config import ReceiverConfig

    database = ReceiverConfig.from_environ(receiver_env).database_label
    _print_urls(out, ports, layout, database, max(0.0, fault_at - time.monotonic()))


def prometheus_argv(binary: str, config: Path, data: Path, port: int, settings: Settings) -> list[str]:
    """Prometheus's command line; it keeps samples for the metrics retention (RETENTION_METRICS)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={int(settings.retention.metrics_seconds)}s",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ]


def _write_admin_key(layout: Layout, receiver_env: Mapping[str, str]) -> None:
    """An admin API key for the console and the API, in a 0600 file (never printed or logged)."""
    from receiver.api_keys import Role
    from receiver.keys_cli import open_key_store

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
