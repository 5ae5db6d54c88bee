"""The shipped Prometheus config and rules pass promtool, and every alert rule is unit-tested."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import services

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
RUNBOOKS = ROOT / "receiver" / "web" / "runbooks.md"
PRIORITIES = {"critical", "high", "medium", "low"}
KINDS = {"threshold", "anomaly", "slo", "meta"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [services.binary("promtool", "prometheus"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=PROMETHEUS,
    )


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def test_promtool_accepts_the_config_and_rules() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    result = promtool("check", "rules", *(str(p) for p in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", *(str(p) for p in TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels'].get('priority')}")
def test_every_alert_has_priority_kind_service_and_annotations(rule: dict[str, Any]) -> None:
    labels = rule["labels"]
    assert labels["priority"] in PRIORITIES
    assert labels["kind"] in KINDS
    assert "service" in labels or "service" in rule["expr"], "service must be a rule label or come from the series"
    assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(rule["annotations"])


RUNBOOK_PAGES = {h.strip().lower() for h in re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.M)}
PANELS = {
    board["uid"]: {p["id"]: json.dumps(p) for p in board["panels"] if p["type"] != "row"}
    for board in (json.loads(path.read_text()) for path in (ROOT / "grafana" / "dashboards").glob("*.json"))
}


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels'].get('priority')}")
def test_every_alert_links_its_runbook_page_and_a_dashboard_panel_that_exist(rule: dict[str, Any]) -> None:
    slug = rule["alert"].lower()
    assert rule["annotations"]["runbook_url"] == "{{ $externalLabels.runbook_base }}/runbooks/" + slug
    assert slug in RUNBOOK_PAGES, f"receiver/web/runbooks.md has no section {rule['alert']}"
    dashboard = urllib.parse.urlsplit(rule["annotations"]["dashboard_url"])
    match = re.fullmatch(r"/d/([\w-]+)/([\w-]+)", dashboard.path)
    assert match is not None, dashboard.path
    uid, query = match.group(1), urllib.parse.parse_qs(dashboard.query)
    assert uid in PANELS, f"no dashboard {uid}"
    [panel_id] = query.pop("viewPanel")
    assert int(panel_id) in PANELS[uid], f"dashboard {uid} has no panel {panel_id}"
    service = query.pop("var-service", None)
    if service is not None:  # only where the panel is filtered by the dashboard's service variable
        assert "$service" in PANELS[uid][int(panel_id)], f"panel {panel_id} of {uid} ignores var-service"
    assert query == {}


def test_the_runbook_base_is_an_absolute_url_and_never_reaches_alertmanager_as_a_label() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    base = config["global"]["external_labels"]["runbook_base"]
    assert urllib.parse.urlsplit(base).scheme in ("http", "https")
    assert urllib.parse.urlsplit(base).netloc
    [drop] = config["alerting"]["alert_relabel_configs"]
    assert drop["action"] == "labeldrop"
    assert re.fullmatch(drop["regex"], "runbook_base")


def test_every_alert_rule_is_tested_firing_and_not_firing() -> None:
    firing: set[tuple[str, str]] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    firing.update((check["alertname"], a["exp_labels"]["priority"]) for a in check["exp_alerts"])
                else:
                    silent.add(check["alertname"])
    rules = {(rule["alert"], rule["labels"]["priority"]) for rule in alert_rules()}
    assert rules - firing == set(), "alert rules without a firing test"
    always_firing = {"Watchdog"}
    assert {name for name, _ in rules} - always_firing - silent == set(), "alert rules without a not-firing test"


def test_the_fast_config_passes_promtool(tmp_path: Path) -> None:
    from ops.local.fast_config import Speed, write_fast_config

    prometheus, _ = write_fast_config(
        ROOT, tmp_path, Speed(), webhook_url="http://127.0.0.1:9/hook", credentials_file=str(tmp_path / "t")
    )
    result = promtool("check", "config", str(prometheus))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        count = sum(len(group["rules"]) for group in yaml.safe_load(path.read_text())["groups"])
        assert f"SUCCESS: {count} rules found" in result.stdout, f"{path.name} lost rules in the fast config"
