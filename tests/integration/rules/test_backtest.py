"""`monitoring rules backtest` against a real Prometheus holding known faults: firings, pages and diffs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from ops.cli import main
from ops.rules import backtest
from ops.rules.cli import default_alertmanager
from ops.rules.history import PrometheusHistory
from ops.rules.rule_files import load_rule_files
from receiver.config.routing import RoutingPolicy
from tests.integration.rules.conftest import ALERTMANAGER, BURST_FROM, DOWN_FROM, DOWN_UNTIL, RULES, History

pytestmark = pytest.mark.integration
STEP = 15.0


def run_json(capsys: pytest.CaptureFixture[str], history: History, *args: str, rules: list[Path] = RULES) -> Any:
    code = main(
        [
            "rules", "backtest", "--rules", *map(str, rules), "--alertmanager", str(ALERTMANAGER),
            "--prometheus", history.url, "--since", str(history.start), "--until", str(history.start + 3 * 3600),
            "--json", *args,
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def firings(document: Any, alertname: str, priority: str) -> list[dict[str, Any]]:
    return [f for f in document["firings"] if f["rule"] == f"{alertname}{{priority={priority}}}"]


def epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_service_outage_fires_service_down_after_its_for_and_pages_the_critical_channels(
    capsys: pytest.CaptureFixture[str], history: History
) -> None:
    document = run_json(capsys, history)
    (down,) = firings(document, "ServiceDown", "critical")
    assert down["labels"]["service"] == "asset-service"
    # first failed scrape at DOWN_FROM, `for: 15s`: fires one evaluation later (the group's phase within one step)
    assert 0 <= epoch(down["fired_at"]) - (history.start + DOWN_FROM + STEP) < STEP
    assert 0 <= epoch(down["resolved_at"]) - (history.start + DOWN_UNTIL) < STEP
    rule = next(r for r in document["rules"] if r["rule"] == "ServiceDown{priority=critical}")
    assert rule["pages"] == {"pagerduty": 1, "slack": 1, "sms": 1}
    assert rule["firings"] == 1
    assert document["pages"]["by_priority"]["critical"]["sms"] >= 1
    assert document["warnings"] == []


def test_the_transaction_failure_burst_fires_both_levels_and_the_rest_stays_quiet(
    capsys: pytest.CaptureFixture[str], history: History
) -> None:
    document = run_json(capsys, history)
    (critical,) = firings(document, "TransactionSuccessRateDrop", "critical")
    (high,) = firings(document, "TransactionSuccessRateDrop", "high")
    burst = history.start + BURST_FROM
    assert epoch(critical["fired_at"]) < epoch(high["fired_at"])  # `for: 1m` against `for: 5m`
    assert burst < epoch(critical["fired_at"]) < burst + 5 * 60
    fired = {f["rule"].split("{")[0] for f in document["firings"]}
    assert fired == {"ServiceDown", "TransactionSuccessRateDrop", "Watchdog"}


def edited(tmp_path: Path, name: str, old: str, new: str) -> list[Path]:
    out = []
    for path in RULES:
        copy = tmp_path / path.name
        shutil.copy(path, copy)
        if path.name == name:
            text = copy.read_text()
            assert text.count(old) == 1, old
            copy.write_text(text.replace(old, new))
        out.append(copy)
    return out


def test_raising_a_threshold_shows_exactly_its_alerts_disappearing_from_the_diff(
    capsys: pytest.CaptureFixture[str], history: History, tmp_path: Path
) -> None:
    rules = edited(
        tmp_path, "alerts.yml", ":transactions_success:ratio_rate5m < 0.90", ":transactions_success:ratio_rate5m < 0.50"
    )
    document = run_json(capsys, history, "--against", "current", rules=rules)
    assert [(c["kind"], c["rule"]) for c in document["diff"]] == [
        ("gone", "TransactionSuccessRateDrop{priority=critical}")
    ]
    rule = next(r for r in document["rules"] if r["rule"] == "TransactionSuccessRateDrop{priority=critical}")
    assert rule["diff"] == {"new": 0, "gone": 1, "earlier": 0, "later": 0}
    assert rule["firings"] == 0


def test_editing_a_recording_rule_changes_the_alerts_that_read_it(
    capsys: pytest.CaptureFixture[str], history: History, tmp_path: Path
) -> None:
    rules = edited(
        tmp_path,
        "recording.yml",
        'sum(rate(transactions_total{status="completed"}[5m]))\n',
        'sum(rate(transactions_total{status=~"completed|failed"}[5m]))\n',
    )
    document = run_json(capsys, history, "--against", "current", rules=rules)
    assert sorted((c["kind"], c["rule"]) for c in document["diff"]) == [
        ("gone", "TransactionSuccessRateDrop{priority=critical}"),
        ("gone", "TransactionSuccessRateDrop{priority=high}"),
    ]


def test_chunked_range_queries_give_the_same_firings_as_one_query(history: History) -> None:
    rules = load_rule_files(RULES, 15.0)
    window = backtest.Window(history.start, history.start + 3 * 3600)
    results = []
    for max_points in (11_000, 97):
        with requests.Session() as session:
            client = PrometheusHistory(history.url, session, max_points=max_points)
            setup = client.setup()
            results.append(backtest.run(client, setup, window, rules, default_alertmanager(), RoutingPolicy()))
    one, chunked = results
    assert chunked.queries > 5 * one.queries
    key = [(e.rule.key, e.labels, e.fired_at, e.resolved_at) for e in one.candidate.episodes]
    assert key == [(e.rule.key, e.labels, e.fired_at, e.resolved_at) for e in chunked.candidate.episodes]
    assert len(key) == 4  # ServiceDown, both TransactionSuccessRateDrop, Watchdog
