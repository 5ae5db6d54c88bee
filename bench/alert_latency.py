"""Alert latency: from a platform service going down to the critical page at the channel sinks.

The whole pipeline runs as real processes (tests/e2e/pipeline/harness.py). The fake
asset-service closes its port on a timeline; the fault's moment is observed by polling the
port (the first refused connection), the page's moment is the ServiceDown trigger at the
PagerDuty sink for an alert whose startsAt follows the fault.

Three interleaved rounds (bench/rounds.py) each run the three configurations below in turn,
two outages apiece: six outages per configuration, whose percentiles are the figures. Within a
pipeline the outages come close together: the second usually starts while Alertmanager still
holds the first's group (it lives until its resolve is flushed on a `group_interval` tick and
the dispatcher's 30s sweep drops it). A new alert in a group that has already flushed waits for
the group's next tick, not for `group_wait`: that is the case a flapping service hits, and the
one these runs measure.

- **fast config**: the shipped Prometheus rules and Alertmanager routes with every duration
  divided by 60 (`ops.local.fast_config`), as the e2e tests use them. Goal: under 5s.
- **shipped ÷15**: the shipped files divided by 15, Alertmanager timings to the millisecond
  (critical `group_wait` 5s → 333ms), so scrape and evaluation run every second and the x15
  figure compares with the computed sum in docs/alerting.md ("From cause to page"): ~36s
  typical, ~57s worst case. The fixed costs (webhook, receiver outbox, channel; ~0.3s) are
  multiplied too, so x15 overstates them.
- **defaults ÷15**, the comparison: the same files with Prometheus's and Alertmanager's
  defaults (scrape and evaluation every 1m, `group_wait: 30s`, `group_interval: 5m`). At ÷60
  its 1s scrape would equal the fast config's (whose 15s/60 is floored at 1s); at ÷15 both
  keep their ratio. Its outages last longer than detection plus a `group_interval`: a shorter
  one can fire and resolve between two ticks of its open group, and Alertmanager never sends
  that page at all (the cause of the old bench's timeouts).
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from statistics import median, quantiles
from typing import Any

import yaml

from bench.report import Result
from bench.rounds import Figures, interleave
from ops.local.fast_config import Speed, parse_seconds, scale_alertmanager, scale_prometheus, scale_rules
from tests.e2e.pipeline.harness import REPO, Delivery, Pipeline, fast_config, wait_for

RUNS = 2  # outages per pipeline, in each of the interleaved rounds
TITLE = "[CRITICAL] FIRING: ServiceDown (asset-service)"
# docs/alerting.md, "From cause to page": a first outage's typical sum, and the worst case of an
# outage that joins a group still open from the previous one (group_interval instead of group_wait).
SHIPPED_TYPICAL_S, SHIPPED_WORST_S = 36.0, 57.0
SCALE = 15  # shipped and defaults runs: every duration ÷15


def scaled_prometheus(out: Path, speed: Speed) -> dict[str, Any]:
    """Shipped rules (written to ``out/rules``) and Prometheus configuration, divided by ``speed``."""
    rules_out = out / "rules"
    rules_out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((REPO / "prometheus" / "rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        (rules_out / path.name).write_text(yaml.safe_dump(scale_rules(document, speed), sort_keys=False))
        names.append(f"rules/{path.name}")
    return scale_prometheus(yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text()), speed, names)


def exact_route(route: dict[str, Any], divisor: float) -> dict[str, Any]:
    """``route`` with its timings divided by ``divisor`` to the millisecond (no rounding to 0s)."""
    out = {**route}
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in out:
            out[key] = f"{max(1, round(parse_seconds(str(out[key])) * 1000 / divisor))}ms"
    if "routes" in out:
        out["routes"] = [exact_route(child, divisor) for child in out["routes"]]
    return out


def shipped_config(out: Path, webhook_url: str, credentials_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped rules and routes divided by 15, Alertmanager timings kept to the millisecond."""
    speed = Speed(speedup=SCALE, scrape_interval_seconds=15 // SCALE)
    shipped = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    alertmanager = scale_alertmanager(shipped, speed, webhook_url, credentials_file)
    alertmanager["route"] = exact_route(shipped["route"], SCALE)
    return scaled_prometheus(out, speed), alertmanager


def defaults_config(out: Path, webhook_url: str, credentials_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Shipped rules and routes with Prometheus/Alertmanager default timings, divided by 15."""
    speed = Speed(speedup=SCALE, scrape_interval_seconds=60 // SCALE)
    alertmanager = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())

    def with_defaults(route: dict[str, Any]) -> dict[str, Any]:
        route = {**route, "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
        if "routes" in route:
            route["routes"] = [with_defaults(child) for child in route["routes"]]
        return route

    alertmanager["route"] = with_defaults(alertmanager["route"])
    return scaled_prometheus(out, speed), scale_alertmanager(alertmanager, speed, webhook_url, credentials_file)


def outage_starts(first: float, down: float, up: float, jitter: float, phases: range) -> list[float]:
    """When each outage begins (simulator seconds): every ``down + up + jitter``, each shifted by
    a different fraction of ``jitter`` (golden-ratio steps, numbered by ``phases`` so that later
    rounds continue the sequence), so the service stays up at least ``up``. Outages a whole
    number of scrape intervals and group_intervals apart would meet Prometheus and the
    Alertmanager group at the same phase every time and measure one point of the distribution
    again and again."""
    return [first + n * (down + up + jitter) + (phase * 0.618034 % 1.0) * jitter for n, phase in enumerate(phases)]


def outage_timeline(starts: list[float], down: float) -> str:
    phases = ["  - {at: 0s, name: steady, http_error_ratio: 0.0005}"]
    for i, start in enumerate(starts):
        phases.append(f"  - {{at: {start:.3f}, name: down-{i}, health: down, services: [asset-service]}}")
        phases.append(f"  - {{at: {start + down:.3f}, name: up-{i}, http_error_ratio: 0.0005}}")
    return "name: outages\nseed: 5\nduration: 1800s\nprofile: {rate: 8}\nphases:\n" + "\n".join(phases) + "\n"


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return False
    except OSError:
        return True


def reached(pipeline: Pipeline, fake_seconds: float) -> bool:
    return pipeline.fake_time() >= fake_seconds


def started_at(delivery: Delivery) -> float:
    """The paged alert's startsAt (epoch seconds), from the receiver's PagerDuty dedup_key
    (``<fingerprint>-<startsAt>``, receiver/delivery/channels/pagerduty.py)."""
    return float(delivery.dedup_key.rsplit("-", 1)[1])


def measure(pipeline: Pipeline, starts: list[float], down: float) -> list[float]:
    """Seconds from each observed outage to the PagerDuty page of an alert that started after it.

    Only an alert whose startsAt follows the fault counts: a page still on its way for an
    earlier firing (or a ServiceDown from a scrape that timed out on a loaded machine) must not
    be taken for this outage's page.
    """
    latencies = []
    port = pipeline.ports["asset-service"]
    for i, at in enumerate(starts):
        wait_for(partial(reached, pipeline, at - 0.3), at + 5, f"outage {i}", interval=0.01)
        fault = wait_for(lambda: port_closed(port) and time.monotonic(), 5, "the port closing", interval=0.005)
        fault_epoch = time.time() - (time.monotonic() - fault)

        def paged(fault: float = fault, fault_epoch: float = fault_epoch) -> float | None:
            times = [
                d.received_at
                for d in pipeline.deliveries()
                if d.channel == "pagerduty" and d.title == TITLE and d.action == "trigger"
                and d.received_at > fault and started_at(d) >= fault_epoch - 1.0  # clocks, polling
            ]  # fmt: skip
            return min(times) if times else None

        # The page must come while the service is down (the timelines below leave room for
        # detection and a full group_interval); the extra 30s only turns a lost page into a
        # clear failure instead of a late figure.
        latencies.append(wait_for(paged, down + 30, f"the page for outage {i}", interval=0.02) - fault)
    return latencies


def run_pipeline(
    config_writer: Any, first: float, down: float, up: float, jitter: float, round_number: int
) -> list[float]:
    starts = outage_starts(first, down, up, jitter, range(round_number * RUNS, (round_number + 1) * RUNS))
    timeline = outage_timeline(starts, down)
    with (
        tempfile.TemporaryDirectory(prefix="alert-latency-") as workdir,
        Pipeline.running(Path(workdir), timeline, config_writer=config_writer) as pipeline,
    ):
        return measure(pipeline, starts, down)


def p95(values: Sequence[float]) -> float:
    return quantiles(values, n=20, method="inclusive")[18]


def run() -> list[Result]:
    latencies: dict[str, list[list[float]]] = {"fast": [], "shipped": [], "defaults": []}

    def measured(name: str, config_writer: Any, first: float, down: float, up: float, jitter: float) -> None:
        rounds = latencies[name]
        rounds.append(run_pipeline(config_writer, first, down, up, jitter, len(rounds)))

    interleave(
        [
            # Jitter: about a scrape interval or a group_interval, whichever is longer.
            lambda: measured("fast", fast_config, first=25, down=6, up=6, jitter=1),
            # Shipped ÷15: 1s scrape and evaluation, for 1s, critical group_wait 333ms and group_interval
            # 667ms. Up for 8s: the next outage usually finds the previous group still open.
            lambda: measured("shipped", shipped_config, first=25, down=8, up=8, jitter=4),
            # Defaults ÷15: 4s scrape and evaluation, 2s group_wait, 20s group_interval. Down for 40s,
            # longer than detection (≤12s) plus a group_interval, so every outage's page is sent.
            lambda: measured("defaults", defaults_config, first=30, down=40, up=20, jitter=10),
        ]
    )
    for name, rounds in latencies.items():
        print(f"alert latency, {name} (s): {[[round(x, 2) for x in r] for r in rounds]}")
    ms = 1000.0
    scaled = SCALE * ms

    def p50_of(name: str, factor: float) -> Figures:
        return Figures.pooled(latencies[name], median).scaled(factor)

    def p95_of(name: str, factor: float) -> Figures:
        return Figures.pooled(latencies[name], p95).scaled(factor)

    return [
        Result(
            "alert latency p50, fast config (÷60)",
            p50_of("fast", ms),
            "ms",
            f"defaults ÷{SCALE} p50",
            p50_of("defaults", ms),
            "< 5,000 ms",
        ),
        Result(
            "alert latency p95, fast config (÷60)",
            p95_of("fast", ms),
            "ms",
            f"defaults ÷{SCALE} p95",
            p95_of("defaults", ms),
            "< 5,000 ms",
        ),
        Result(
            f"alert latency p50, shipped (measured ÷{SCALE}, x{SCALE})",
            p50_of("shipped", scaled),
            "ms",
            "shipped config, computed typical",
            Figures.constant(SHIPPED_TYPICAL_S * ms),
            "< 60,000 ms",
        ),
        Result(
            f"alert latency p95, shipped (measured ÷{SCALE}, x{SCALE})",
            p95_of("shipped", scaled),
            "ms",
            "shipped config, computed worst case",
            Figures.constant(SHIPPED_WORST_S * ms),
            "< 60,000 ms",
        ),
        Result(
            f"alert latency p50, defaults (measured ÷{SCALE}, x{SCALE})",
            p50_of("defaults", scaled),
            "ms",
            f"shipped (measured ÷{SCALE}, x{SCALE}) p50",
            p50_of("shipped", scaled),
            "",
        ),
        Result(
            f"alert latency p95, defaults (measured ÷{SCALE}, x{SCALE})",
            p95_of("defaults", scaled),
            "ms",
            f"shipped (measured ÷{SCALE}, x{SCALE}) p95",
            p95_of("shipped", scaled),
            "",
        ),
    ]
