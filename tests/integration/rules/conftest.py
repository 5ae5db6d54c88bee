"""A real Prometheus 2.42 over three hours of backfilled platform history with known faults.

Timeline (seconds from the start, 15 s scrapes): asset-service fails its scrapes from 1800
to 2100; transactions fail at 40% from 3600 to 4200 (1% otherwise). The shipped rules are
loaded, so `/api/v1/rules` answers as in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backfill import Timeline, backfilled_prometheus

ROOT = Path(__file__).resolve().parents[3]
RULES = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
ALERTMANAGER = ROOT / "alertmanager" / "alertmanager.yml"
DOWN_FROM, DOWN_UNTIL = 1800, 2100
BURST_FROM, BURST_UNTIL = 3600, 4200
CONFIG = {
    "global": {
        "scrape_interval": "15s",
        "evaluation_interval": "15s",
        "external_labels": {"monitor": "investment-platform", "replica": "prometheus-0"},
    },
    "alerting": {"alert_relabel_configs": [{"action": "labeldrop", "regex": "replica"}]},
}


@dataclass(frozen=True)
class History:
    url: str
    start: float  # unix seconds of the timeline's first sample


def timeline(start: float) -> Timeline:
    history = Timeline(start, 3 * 3600)
    asset = {"job": "platform", "service": "asset-service", "instance": "127.0.0.1:9201"}
    history.add("up", asset, lambda t: 0.0 if DOWN_FROM <= t < DOWN_UNTIL else 1.0)
    history.add(
        "up", {"job": "exporter", "instance": "127.0.0.1:9108", "service": "monitoring-exporter"}, lambda t: 1.0
    )
    history.add(
        "up", {"job": "receiver", "instance": "127.0.0.1:8080", "service": "monitoring-receiver"}, lambda t: 1.0
    )
    burst = range(BURST_FROM, BURST_UNTIL)
    history.counter("transactions_total", {"status": "completed"}, lambda t: 3.0 if int(t) in burst else 5.0)
    history.counter("transactions_total", {"status": "failed"}, lambda t: 2.0 if int(t) in burst else 0.05)
    return history


@pytest.fixture(scope="package")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    start = (time.time() - 3.5 * 3600) // 15 * 15
    workdir = tmp_path_factory.mktemp("backtest-prometheus")
    with backfilled_prometheus(timeline(start), workdir, RULES, CONFIG) as (url, _):
        yield History(url, start)
