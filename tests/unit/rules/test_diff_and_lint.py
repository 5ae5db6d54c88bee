"""The diff between two backtests, and the house rules of `monitoring rules lint` (the shipped rules included)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ops.rules.diff import compare
from ops.rules.evaluation import Episode
from ops.rules.lint import lint, rendered_runbook
from ops.rules.rule_files import AlertingRule, load_rule_files

ROOT = Path(__file__).resolve().parents[3]


def episode(rule: AlertingRule, fired: float, resolved: float | None, instance: str = "a") -> Episode:
    labels = (("alertname", "Test"), ("instance", instance))
    return Episode(rule, labels, {}, fired, fired, resolved, ((fired, 1.0),))


@pytest.mark.parametrize(
    ("candidate", "baseline", "expected"),
    [
        ([(100, 200)], [(100, 200)], []),
        ([(100, 200)], [], [("new", 100, None)]),
        ([], [(100, 200)], [("gone", None, 100)]),
        ([(70, 200)], [(100, 200)], [("earlier", 70, 100)]),
        ([(130, 200)], [(100, 200)], [("later", 130, 100)]),
        ([(105, 200)], [(100, 200)], []),  # within one evaluation interval: the same firing
        ([(100, 150), (300, 400)], [(100, 150)], [("new", 300, None)]),
    ],
)
def test_firings_pair_by_labels_and_overlap_and_shift_by_at_least_one_interval(
    alerting_rule: Callable[..., AlertingRule],
    candidate: list[tuple[float, float]],
    baseline: list[tuple[float, float]],
    expected: list[tuple[str, float | None, float | None]],
) -> None:
    rule = alerting_rule()
    changes = compare(
        [episode(rule, *c) for c in candidate], [episode(rule, *b) for b in baseline], end=1000, tolerance=15
    )
    assert [(c.kind, c.fired_at, c.baseline_fired_at) for c in changes] == expected


def test_the_shipped_rules_follow_every_house_rule_with_runbooks_rendered_as_prometheus_renders_them() -> None:
    files = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    assert [str(f) for f in lint(files)] == []
    base = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())["global"]["external_labels"]["runbook_base"]
    [rule] = [
        r for r in load_rule_files(files).alerting if r.alert == "ServiceDown" and r.labels["priority"] == "critical"
    ]
    assert rendered_runbook(rule, {"runbook_base": base}) == f"{base}/runbooks/servicedown"
    # without Prometheus's external labels the template renders no host: not a link anyone can open
    assert lint(files, prometheus_config=ROOT / "prometheus/examples/federation.yml")


def write(tmp_path: Path, rule: dict[str, object], test_alert: dict[str, object] | None) -> Path:
    rules = tmp_path / "rules" / "mine.yml"
    rules.parent.mkdir(exist_ok=True)
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    (tmp_path / "tests").mkdir(exist_ok=True)
    cases = [] if test_alert is None else [{"alert_rule_test": [test_alert]}]
    tests = {"rule_files": ["../rules/mine.yml"], "tests": cases}
    (tmp_path / "tests" / "mine.test.yml").write_text(yaml.safe_dump(tests))
    return rules


GOOD = {
    "alert": "Mine",
    "expr": "up == 0",
    "labels": {"priority": "high"},
    "annotations": {"summary": "s", "description": "d", "runbook_url": "https://runbooks.example.com/mine"},
}
TESTED = {"alertname": "Mine", "exp_alerts": [{"exp_labels": {"priority": "high"}}]}


@pytest.mark.parametrize(
    ("change", "test", "expected"),
    [
        ({}, TESTED, []),
        (
            {"labels": {"priority": "urgent"}},
            TESTED,
            ["label priority must be one of critical, high, medium, low (got 'urgent')", "with priority urgent"],
        ),
        ({"labels": {}}, TESTED, ["label priority must be one of", "with priority (none)"]),
        ({"annotations": {"description": "d", "runbook_url": "https://x.example/r"}}, TESTED, ["annotation summary"]),
        ({"annotations": {**GOOD["annotations"], "runbook_url": "docs/r.md"}}, TESTED, ["absolute http(s) URL"]),  # type: ignore[dict-item]
        ({}, None, ["no promtool test expects Mine to fire with priority high"]),
        ({}, {**TESTED, "exp_alerts": [{"exp_labels": {"priority": "low"}}]}, ["no promtool test expects Mine"]),
    ],
)
def test_lint_reports_each_house_rule_an_alert_breaks(
    tmp_path: Path, change: dict[str, object], test: dict[str, object] | None, expected: list[str]
) -> None:
    findings = lint([write(tmp_path, {**GOOD, **change}, test)])
    assert len(findings) == len(expected)
    for finding, text in zip(findings, expected, strict=True):
        assert text in str(finding)
        assert "mine.yml: group 'g', alert 'Mine'" in str(finding)
