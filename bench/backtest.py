"""`monitoring rules backtest`: the shipped rules over 24 h of history at 15 s steps, queries against evaluation.

A real Prometheus 2.42 holds a day of platform history, backfilled with promtool
(tests/backfill.py): the fake platform services' own metrics (``simulator.fake_services``,
ticked every 15 s through a day with a service outage, an error burst, a latency spike and a
request step; what their registries expose is what Prometheus would have scraped), and the
exporter-side series (transactions, a stalled consumer group, events) written as functions of
time. The backtest of every shipped alerting rule (recording rules inlined at their groups'
instants) through the shipped Alertmanager routes and the receiver's policy is timed end to
end; the baseline, in the same runs, is its range queries alone (the time Prometheus spends
answering), so the ratio says what evaluation, routing and paging add. Medians of three rounds.

``python -m bench.backtest`` runs only this one and writes bench/results/backtest.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import requests

from bench.report import RESULTS, Result, render, write
from bench.rounds import Figures
from ops.rules import backtest
from ops.rules.alertmanager_config import load_alertmanager_config
from ops.rules.history import PrometheusHistory
from ops.rules.rule_files import load_rule_files
from receiver.config.routing import RoutingPolicy
from simulator.fake_services import SERVICES, FakeServices
from simulator.scenario import parse_scenario
from tests.backfill import Timeline, backfilled_prometheus

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0
STEP = 15.0
ROUNDS = 3
# The fake services' day: the faults of the e2e scenarios, hours apart.
SCENARIO = {
    "name": "backtest-day",
    "seed": 7,
    "profile": {"rate": 8},
    "phases": [
        {"at": "0s", "name": "steady", "http_error_ratio": 0.0005},
        {"at": "3h", "name": "asset-down", "health": "down", "services": ["asset-service"]},
        {"at": "3h5m", "name": "steady-again", "http_error_ratio": 0.0005},
        {"at": "8h", "name": "error-burst", "http_error_ratio": 0.05, "services": ["portfolio-service"]},
        {"at": "8h10m", "name": "steady-after-burst", "http_error_ratio": 0.0005},
        {"at": "11h", "name": "slow", "http_latency_factor": 40, "services": ["transaction-service"]},
        {"at": "11h15m", "name": "steady-after-slow", "http_error_ratio": 0.0005},
        {"at": "14h", "name": "request-step", "rate": 40, "http_error_ratio": 0.0005},
        {"at": "14h12m", "name": "steady-after-step", "http_error_ratio": 0.0005},
    ],
}
BURST, STALL = range(9 * 3600, 9 * 3600 + 600), range(18 * 3600, 18 * 3600 + 360)  # transactions, consumer group


def _status(stall: range, status: str, t: float) -> float:
    stalled = int(t) in stall
    return 1.0 if (status == "stall" and stalled) or (status == "ok" and not stalled) else 0.0


def _rate(normal: float, during: float, window: range, t: float) -> float:
    return during if int(t) in window else normal


def scrape_fake_services(history: Timeline) -> None:
    """What Prometheus would have scraped from the fake services every 15 s through the scenario."""
    scenario = parse_scenario(SCENARIO, "bench scenario")
    services = FakeServices(scenario, dict.fromkeys(SERVICES, 0))  # loopback, ephemeral ports
    services.start()  # a service serves (and counts) requests only while its server is up
    try:
        for k in range(int(history.seconds // STEP) + 1):
            elapsed = k * STEP
            services.tick(elapsed, STEP)
            phase = scenario.timeline.at(elapsed)
            for index, name in enumerate(SERVICES):
                target = {"job": "platform", "instance": f"127.0.0.1:{9201 + index}", "service": name}
                down = phase.health == "down" and (not phase.services or name in phase.services)
                history.record("up", target, elapsed, 0.0 if down else 1.0)
                if down:
                    continue
                for family in services.states[name].registry.collect():
                    for sample in family.samples:
                        if not sample.name.endswith("_created"):
                            history.record(sample.name, {**sample.labels, **target}, elapsed, sample.value)
    finally:
        services.stop()


def day_of_history(start: float) -> Timeline:
    """24 h at 15 s: the fake services' metrics and the exporter's series, with their faults."""
    history = Timeline(start, DAY, STEP)
    scrape_fake_services(history)
    for job, service in (("exporter", "monitoring-exporter"), ("receiver", "monitoring-receiver")):
        instance = f"127.0.0.1:{8080 if job == 'receiver' else 9108}"
        history.add("up", {"job": job, "instance": instance, "service": service}, lambda t: 1.0)
    exporter = {"job": "exporter", "instance": "127.0.0.1:9108"}
    history.counter("transactions_total", {**exporter, "status": "completed"}, partial(_rate, 5.0, 3.0, BURST))
    history.counter("transactions_total", {**exporter, "status": "failed"}, partial(_rate, 0.05, 2.0, BURST))
    for status in ("ok", "warn", "stall", "stop"):
        labels = {**exporter, "group": "portfolio", "status": status}
        history.add("kafka_consumergroup_status", labels, partial(_status, STALL, status))
    for topic in ("asset.events", "portfolio.events", "transaction.events"):
        history.counter("monitoring_events_consumed_total", {**exporter, "topic": topic}, lambda t: 10.0)
        history.counter("monitoring_events_failed_total", {**exporter, "topic": topic}, lambda t: 0.01)
    return history


def run() -> list[Result]:
    rule_files = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    alertmanager = load_alertmanager_config(ROOT / "alertmanager" / "alertmanager.yml")
    end = (time.time() - 600) // STEP * STEP
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as workdir:
        timeline = day_of_history(end - DAY)
        with backfilled_prometheus(timeline, Path(workdir)) as (url, _), requests.Session() as session:
            history = PrometheusHistory(url, session)
            setup = history.setup()
            rules = load_rule_files(rule_files, setup.evaluation_interval)
            window = backtest.Window(end - DAY, end)
            totals, queries, evaluation, loads = [], [], [], []
            for _ in range(ROUNDS):
                began = time.perf_counter()
                result = backtest.run(history, setup, window, rules, alertmanager, RoutingPolicy())
                totals.append(time.perf_counter() - began)
                queries.append(result.query_seconds)
                evaluation.append(result.evaluation_seconds)
                loads.append(os.getloadavg()[0])
    firings = len(result.candidate.episodes)
    per_rule: dict[str, int] = {}
    for episode in result.candidate.episodes:
        per_rule[episode.rule.key] = per_rule.get(episode.rule.key, 0) + 1
    print("backtest firings:", ", ".join(f"{rule} {n}" for rule, n in sorted(per_rule.items())))
    pages = len([p for p in result.candidate.pages if p.action == "trigger"])
    loads_rounded = tuple(round(load, 2) for load in loads)
    load = f"1-min load {min(loads):.1f}..{max(loads):.1f} on {os.cpu_count()} CPUs"
    return [
        Result(
            f"backtest {len(rules.alerting)} rules, 24 h at 15 s ({result.queries} range queries, "
            f"{result.evaluations:,} rule evaluations, {firings} firings, {pages} pages)",
            Figures(tuple(s * 1000 for s in totals), loads_rounded),
            "ms",
            "its range queries alone",
            Figures(tuple(s * 1000 for s in queries), loads_rounded),
            goal=f"< 60 s end to end; {load}",
        ),
        Result(
            "backtest evaluation + routing + paging",
            Figures(tuple(s * 1000 for s in evaluation), loads_rounded),
            "ms",
            "its range queries alone",
            Figures(tuple(s * 1000 for s in queries), loads_rounded),
        ),
    ]


if __name__ == "__main__":
    measured = run()
    print(render(measured))
    print(f"\nwritten to {write(measured, RESULTS / 'backtest.json')}")
    sys.exit(0)
