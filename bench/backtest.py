"""`monitoring rules backtest`: the shipped rules over 24 h of history at 15 s steps, queries against evaluation.

A real Prometheus 2.42 holds a day of platform history written like the simulator's fault
scenarios (steady traffic with a service outage, a transaction failure burst, a request step
and a stalled consumer group), backfilled with promtool (tests/backfill.py). The backtest of
every shipped alerting rule (recording rules inlined) through the shipped Alertmanager routes
is timed end to end; the baseline, in the same run, is its range queries alone (the time
Prometheus spends answering), so the ratio says what evaluation, routing and paging add.
Medians of three rounds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import requests

from bench.report import Result
from ops.rules import backtest
from ops.rules.alertmanager_config import load_alertmanager_config
from ops.rules.history import PrometheusHistory
from ops.rules.rule_files import load_rule_files
from receiver.config.routing import RoutingPolicy
from tests.backfill import Timeline, backfilled_prometheus

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0
ROUNDS = 3
SERVICES = ("asset-service", "portfolio-service", "transaction-service")


def _up(down: range, t: float) -> float:
    return 0.0 if int(t) in down else 1.0


def _share(rate: Callable[[float], float], share: float, t: float) -> float:
    return rate(t) * share


def _step_rate(step: range, t: float) -> float:
    return 40.0 if int(t) in step else 8.0


def _status(stall: range, status: str, t: float) -> float:
    stalled = int(t) in stall
    return 1.0 if (status == "stall" and stalled) or (status == "ok" and not stalled) else 0.0


def day_of_history(start: float) -> Timeline:
    """24 h at 15 s: the platform's series with four faults at hours 3, 8, 14 and 18."""
    history = Timeline(start, DAY)

    def during(hour: float, minutes: float) -> range:
        return range(int(hour * 3600), int(hour * 3600 + minutes * 60))

    outage, burst, step, stall = during(3, 5), during(8, 10), during(14, 12), during(18, 6)
    for index, service in enumerate(SERVICES):
        target = {"job": "platform", "service": service, "instance": f"127.0.0.1:{9201 + index}"}
        down = outage if service == "asset-service" else range(0)
        history.add("up", target, partial(_up, down))
        rate = partial(_step_rate, step if service == "asset-service" else range(0))
        for status, share in (("200", 0.9995), ("500", 0.0005)):
            history.counter("http_requests_total", {**target, "status": status}, partial(_share, rate, share))
        for le, share in (("0.1", 0.6), ("0.5", 0.9), ("1", 0.98), ("+Inf", 1.0)):
            labels = {**target, "le": le}
            history.counter("http_request_duration_seconds_bucket", labels, partial(_share, rate, share))
    for job, service in (("exporter", "monitoring-exporter"), ("receiver", "monitoring-receiver")):
        history.add(
            "up",
            {"job": job, "instance": f"127.0.0.1:{8080 if job == 'receiver' else 9108}", "service": service},
            lambda t: 1.0,
        )
    history.counter("transactions_total", {"status": "completed"}, lambda t: 3.0 if int(t) in burst else 5.0)
    history.counter("transactions_total", {"status": "failed"}, lambda t: 2.0 if int(t) in burst else 0.05)
    for status in ("ok", "warn", "stall", "stop"):
        labels = {"group": "portfolio", "status": status, "job": "exporter"}
        history.add("kafka_consumergroup_status", labels, partial(_status, stall, status))
    for topic in ("asset.events", "portfolio.events", "transaction.events"):
        history.counter("monitoring_events_consumed_total", {"topic": topic, "job": "exporter"}, lambda t: 10.0)
        history.counter("monitoring_events_failed_total", {"topic": topic, "job": "exporter"}, lambda t: 0.01)
    return history


def run() -> list[Result]:
    rule_files = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    alertmanager = load_alertmanager_config(ROOT / "alertmanager" / "alertmanager.yml")
    end = (time.time() - 600) // 15 * 15
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as workdir:
        timeline = day_of_history(end - DAY)
        with backfilled_prometheus(timeline, Path(workdir)) as (url, _), requests.Session() as session:
            history = PrometheusHistory(url, session)
            setup = history.setup()
            rules = load_rule_files(rule_files, setup.evaluation_interval)
            window = backtest.Window(end - DAY, end)
            totals, queries, evaluation = [], [], []
            for _ in range(ROUNDS):
                began = time.perf_counter()
                result = backtest.run(history, setup, window, rules, alertmanager, RoutingPolicy())
                totals.append(time.perf_counter() - began)
                queries.append(result.query_seconds)
                evaluation.append(result.evaluation_seconds)
    rules_count = len(rules.alerting)
    total, query = statistics.median(totals), statistics.median(queries)
    return [
        Result(
            f"backtest {rules_count} rules, 24 h at 15 s",
            total * 1000,
            "ms",
            "its range queries alone",
            query * 1000,
            goal="< 60 s end to end",
        ),
        Result(
            "backtest evaluation + routing + paging",
            statistics.median(evaluation) * 1000,
            "ms",
            "its range queries alone",
            query * 1000,
        ),
    ]


if __name__ == "__main__":
    from bench.report import render

    print(render(run()))
