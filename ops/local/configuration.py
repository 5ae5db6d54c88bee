"""The local stack's configuration: its ports, the run directory's layout, and the demo overlay of
the shipped Prometheus, Alertmanager, routing and health-check files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitoring.settings import Settings
from ops.local.fast_config import Speed, write_fast_config
from receiver.config.routing import DEFAULT_PRIORITIES
from receiver.config.settings import ReceiverConfig

REPO = Path(__file__).resolve().parents[2]

DEFAULT_RUN_DIR = REPO / ".cache" / "local-run"

DEMO_SCENARIO = REPO / "simulator" / "scenarios" / "demo.yaml"

TOPOLOGY = REPO / "topology" / "platform.yaml"  # the shipped parts and dependencies: one page per incident

# Demo only: ten times faster than production (ServiceDown's 15 s `for:` becomes 2 s, a critical
# group's 5 s group_wait becomes 0 s); scrape and rule evaluation every second.
DEMO_SPEED = Speed(speedup=10.0, scrape_interval_seconds=1)

PLATFORM_SERVICES = ("asset-service", "portfolio-service", "transaction-service")

CLEARED_ON_START = ("logs", "prometheus", "alertmanager", "receiver-metrics", "notifications.jsonl")


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


def incident_settings(speed: Speed, config: ReceiverConfig) -> dict[str, str]:
    """Incidents on the shipped topology, their window and cool-down as fast as the demo's rules
    (the hold is about webhooks arriving together, not about rule timings: it stays)."""
    return {
        "RECEIVER_TOPOLOGY_FILE": str(TOPOLOGY),
        "RECEIVER_INCIDENT_WINDOW": f"{config.incident_window / speed.speedup:g}s",
        "RECEIVER_INCIDENT_COOLDOWN": f"{config.incident_cooldown / speed.speedup:g}s",
    }


def routing_document() -> dict[str, Any]:
    """The shipped default routing with the ``file`` channel added everywhere and as fallback."""
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
    """Point every scrape job, the platform's file SD and the Alertmanager address at this run's ports,
    and the rules' runbook links (the ``runbook_base`` external label) at this run's receiver."""
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
    labels = {**document["global"].get("external_labels", {}), "runbook_base": f"http://127.0.0.1:{ports.receiver}"}
    return {**document, "global": {**document["global"], "external_labels": labels}, "scrape_configs": jobs,
            "alerting": alerting}  # fmt: skip


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


def prometheus_argv(binary: str, config: Path, data: Path, port: int, settings: Settings) -> list[str]:
    """Prometheus's command line; it keeps samples for the metrics retention (RETENTION_METRICS)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={int(settings.retention.metrics_seconds)}s",
        f"--web.listen-address=127.0.0.1:{port}",
        # the alerts' graph links (generatorURL) point here; by default they would name the host, not loopback
        f"--web.external-url=http://127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ]
