"""Prometheus keeps metrics for RETENTION_METRICS (15 days) wherever this project starts it."""

from __future__ import annotations

from pathlib import Path

import yaml

from monitoring.settings import Settings
from ops.local.configuration import prometheus_argv

ROOT = Path(__file__).resolve().parents[3]


def test_the_local_stack_starts_prometheus_with_the_metrics_retention() -> None:
    argv = prometheus_argv("prometheus", Path("p.yml"), Path("data"), 9090, Settings.from_environ({}))
    assert "--storage.tsdb.retention.time=1296000s" in argv  # 15 days
    shorter = prometheus_argv(
        "prometheus", Path("p.yml"), Path("data"), 9090, Settings.from_environ({"RETENTION_METRICS": "2d"})
    )
    assert "--storage.tsdb.retention.time=172800s" in shorter


def test_compose_runs_prometheus_with_the_same_default_retention() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "--storage.tsdb.retention.time=${RETENTION_METRICS:-15d}" in compose["services"]["prometheus"]["command"]
    assert Settings.from_environ({"RETENTION_METRICS": "15d"}).retention == Settings.from_environ({}).retention
