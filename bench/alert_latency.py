"""Alert latency: from a platform service going down to the critical page at the channel sinks.

The whole pipeline runs as real processes (tests/e2e/pipeline/harness.py). The fake
asset-service closes its port on a timeline; the fault's moment is observed by polling the
port (the first refused connection), the page's moment is the first ServiceDown trigger at
any of its critical channels (PagerDuty, Slack, SMS sinks).

- **fast config**: the shipped Prometheus rules and Alertmanager routes with every duration
  divided by 60 (`monitoring.fast_config`), as the e2e tests use them. Goal: under 5s.
- **defaults**, the comparison: the same files with Prometheus's and Alertmanager's defaults
  (scrape and evaluation every 1m, `group_wait: 30s`, `group_interval: 5m`), run scaled down
  by 15, because at full length five runs take over 15 minutes. Divided by 60 instead, its
  1s scrape would equal the fast config's (whose 15s/60 is floored at 1s) and the comparison
  would say nothing; at ÷15 both scale alike (shipped 15s → 1s, defaults 1m → 4s). Its
  results are reported as measured and x15 (the real-time estimate).
- **shipped, computed**: the sum of scrape, evaluation, `for` and group wait from
  docs/alerting.md ("From cause to page"): ~36s typical, ~52s worst case.
"""

from __future__ import annotations

import socket
import tempfile
import time
from functools import partial
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import yaml

from bench.report import Result
from monitoring.fast_config import Speed, scale_alertmanager, scale_prometheus, scale_rules
from tests.e2e.pipeline.harness import REPO, Pipeline, fast_config, wait_for

RUNS = 6
TITLE = "[CRITICAL] FIRING: ServiceDown (asset-service)"
CRITICAL_CHANNELS = {"pagerduty", "slack", "sms"}
SHIPPED_TYPICAL_S, SHIPPED_WORST_S = 36.0, 52.0  # docs/alerting.md, "From cause to page"
DEFAULTS_SCALE = 15


def defaults_config(out: Path, webhook_url: str, credentials_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shipped rules and routes with Prometheus/Alertmanager default timings, divided by 15."""
    speed = Speed(speedup=DEFAULTS_SCALE, scrape_interval_seconds=60 // DEFAULTS_SCALE)
    rules_out = out / "rules"
    rules_out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((REPO / "prometheus" / "rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        (rules_out / path.name).write_text(yaml.safe_dump(scale_rules(document, speed), sort_keys=False))
        names.append(f"rules/{path.name}")
    prometheus = scale_prometheus(yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text()), speed, names)
    alertmanager = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())

    def with_defaults(route: dict[str, Any]) -> dict[str, Any]:
        route = {**route, "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
        if "routes" in route:
            route["routes"] = [with_defaults(child) for child in route["routes"]]
        return route

    alertmanager["route"] = with_defaults(alertmanager["route"])
    return prometheus, scale_alertmanager(alertmanager, speed, webhook_url, credentials_file)


def outage_timeline(first: float, down: float, up: float, runs: int) -> str:
    phases = ["  - {at: 0s, name: steady, http_error_ratio: 0.0005}"]
    for i in range(runs):
        start = first + i * (down + up)
        phases.append(f"  - {{at: {start:g}s, name: down-{i}, health: down, services: [asset-service]}}")
        phases.append(f"  - {{at: {start + down:g}s, name: up-{i}, http_error_ratio: 0.0005}}")
    return "name: outages\nseed: 5\nduration: 1800s\nprofile: {rate: 8}\nphases:\n" + "\n".join(phases) + "\n"


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return False
    except OSError:
        return True


def reached(pipeline: Pipeline, fake_seconds: float) -> bool:
    return pipeline.fake_time() >= fake_seconds


def measure(pipeline: Pipeline, first: float, down: float, up: float, runs: int) -> list[float]:
    """Seconds from each observed outage to its first critical page."""
    latencies = []
    port = pipeline.ports["asset-service"]
    for i in range(runs):
        at = first + i * (down + up)
        wait_for(partial(reached, pipeline, at - 0.3), at + 5, f"outage {i}", interval=0.01)
        fault = wait_for(lambda: port_closed(port) and time.monotonic(), 5, "the port closing", interval=0.005)

        def paged(fault: float = fault) -> float | None:
            times = [
                d.received_at
                for d in pipeline.deliveries()
                if d.title == TITLE and d.action == "trigger" and d.channel in CRITICAL_CHANNELS
                and d.received_at > fault
            ]  # fmt: skip
            return min(times) if times else None

        latencies.append(wait_for(paged, down + 30, f"the page for outage {i}", interval=0.02) - fault)
    return latencies


def run_pipeline(config_writer: Any, first: float, down: float, up: float) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="alert-latency-") as workdir:
        timeline = outage_timeline(first, down, up, RUNS)
        with Pipeline.running(Path(workdir), timeline, config_writer=config_writer) as pipeline:
            return measure(pipeline, first, down, up, RUNS)


def p95(values: list[float]) -> float:
    return quantiles(values, n=20, method="inclusive")[18]


def run() -> list[Result]:
    fast = run_pipeline(fast_config, first=25, down=6, up=6)
    # Defaults ÷15: 4s scrape and evaluation, 2s group_wait, 20s group_interval. Stay up past a
    # group_interval so each outage opens a new Alertmanager group, as a first outage does.
    defaults = run_pipeline(defaults_config, first=30, down=20, up=30)
    print(f"alert latency, fast config (s): {[round(x, 2) for x in fast]}")
    print(f"alert latency, defaults ÷{DEFAULTS_SCALE} (s): {[round(x, 2) for x in defaults]}")
    ms = 1000.0
    scaled = DEFAULTS_SCALE * ms
    return [
        Result(
            "alert latency p50, fast config (÷60)",
            median(fast) * ms,
            "ms",
            f"defaults ÷{DEFAULTS_SCALE} p50",
            median(defaults) * ms,
            "< 5,000 ms",
        ),
        Result(
            "alert latency p95, fast config (÷60)",
            p95(fast) * ms,
            "ms",
            f"defaults ÷{DEFAULTS_SCALE} p95",
            p95(defaults) * ms,
            "< 5,000 ms",
        ),
        Result(
            f"alert latency p50, defaults (measured ÷{DEFAULTS_SCALE}, x{DEFAULTS_SCALE})",
            median(defaults) * scaled,
            "ms",
            "shipped config, computed typical",
            SHIPPED_TYPICAL_S * ms,
            "shipped < 60,000 ms",
        ),
        Result(
            f"alert latency p95, defaults (measured ÷{DEFAULTS_SCALE}, x{DEFAULTS_SCALE})",
            p95(defaults) * scaled,
            "ms",
            "shipped config, computed worst case",
            SHIPPED_WORST_S * ms,
            "shipped < 60,000 ms",
        ),
    ]
