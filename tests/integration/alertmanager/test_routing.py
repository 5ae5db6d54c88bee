"""The shipped Alertmanager configuration is valid and routes every priority where it should."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import services

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "alertmanager" / "alertmanager.yml"
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "alertmanager" / "tests" / "routes.yaml").read_text())


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [services.binary("amtool", "prometheus-alertmanager"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_amtool_accepts_the_configuration() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_alerts_route_to_their_priority_receivers(case: dict[str, Any]) -> None:
    labels = [f"{key}={value}" for key, value in case["labels"].items()]
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={','.join(case['receivers'])}",
        *labels,
    )
    assert result.returncode == 0, f"{case['name']}: got {result.stdout.strip()!r}, {result.stderr.strip()}"


def test_every_priority_and_receiver_has_a_routing_case() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    tested = {receiver for case in CASES for receiver in case["receivers"]}
    assert tested == {receiver["name"] for receiver in config["receivers"]}
    priorities = {case["labels"].get("priority") for case in CASES}
    assert {"critical", "high", "medium", "low"} <= priorities


def test_timings_tighten_with_priority() -> None:
    routes = {route["receiver"]: route for route in yaml.safe_load(CONFIG.read_text())["route"]["routes"]}
    seconds = {"s": 1, "m": 60, "h": 3600}

    def parse(text: str) -> int:
        return int(text[:-1]) * seconds[text[-1]]

    order = ["priority-critical", "priority-high", "priority-medium", "priority-low"]
    for key in ("group_wait", "repeat_interval"):
        values = [parse(routes[name][key]) for name in order]
        assert values == sorted(values), f"{key} must grow from critical to low: {values}"
    assert parse(routes["priority-critical"]["repeat_interval"]) <= 5 * 60  # the critical ack deadline


def test_the_fast_config_routes_exactly_like_the_shipped_one(tmp_path: Path) -> None:
    from ops.local.fast_config import Speed, write_fast_config

    _, fast = write_fast_config(
        ROOT, tmp_path, Speed(), webhook_url="http://127.0.0.1:9/hook", credentials_file=str(tmp_path / "t")
    )
    assert amtool("check-config", str(fast)).returncode == 0
    for case in CASES:
        labels = [f"{key}={value}" for key, value in case["labels"].items()]
        result = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={fast}",
            f"--verify.receivers={','.join(case['receivers'])}",
            *labels,
        )
        assert result.returncode == 0, f"{case['name']}: fast config routes to {result.stdout.strip()!r}"


def test_paging_routes_flush_an_open_group_within_twice_their_group_wait() -> None:
    """An alert joining a group that already notified waits for group_interval, not group_wait
    (tests/integration/alertmanager/test_repeat_outage.py shows it on a real Alertmanager)."""
    from ops.local.fast_config import parse_seconds

    root = yaml.safe_load(CONFIG.read_text())["route"]
    paging = {"priority-critical", "priority-high", "pipeline-direct"}
    routes = [root, *(route for route in root["routes"] if route["receiver"] in paging)]
    assert {route["receiver"] for route in routes} == paging
    for route in routes:
        wait, interval = parse_seconds(route["group_wait"]), parse_seconds(route["group_interval"])
        assert interval <= 2 * wait, f"{route['receiver']}: group_interval {interval:g}s > 2 x group_wait {wait:g}s"
