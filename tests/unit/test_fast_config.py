from __future__ import annotations

import pytest

from ops.local.fast_config import Speed, parse_seconds, scale_alertmanager, scale_promql, scale_rules

SPEED = Speed(speedup=60, scrape_interval_seconds=1)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("rate(x[5m])", "rate(x[5s])"),
        ("rate(x[1m])", "rate(x[4s])"),  # never below four scrape intervals
        ("rate(x[1h30m])", "rate(x[90s])"),
        ("rate(x[1d]) / rate(x[3d])", "rate(x[1440s]) / rate(x[4320s])"),
        ("x offset 1w", "x offset 10080s"),
        ("avg_over_time(x[1h] offset 10m)", "avg_over_time(x[60s] offset 10s)"),
        ("max_over_time(rate(x[5m])[1h:1m])", "max_over_time(rate(x[5s])[60s:1s])"),
        ('up{job="exporter"} == 0', 'up{job="exporter"} == 0'),
        ("x > 0.90", "x > 0.90"),
    ],
)
def test_windows_and_offsets_shrink_but_thresholds_stay(expr: str, expected: str) -> None:
    assert scale_promql(expr, SPEED) == expected


def test_rule_for_clauses_and_group_intervals_shrink() -> None:
    rules = {
        "groups": [
            {
                "name": "g",
                "interval": "1m",
                "rules": [{"alert": "A", "expr": "rate(x[10m]) > 3", "for": "10m", "labels": {"priority": "high"}}],
            }
        ]
    }
    scaled = scale_rules(rules, SPEED)
    rule = scaled["groups"][0]["rules"][0]
    assert scaled["groups"][0]["interval"] == "1s"
    assert rule == {"alert": "A", "expr": "rate(x[10s]) > 3", "for": "10s", "labels": {"priority": "high"}}


def test_alertmanager_timings_shrink_and_every_receiver_becomes_the_test_webhook() -> None:
    config = {
        "route": {
            "receiver": "r1",
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "1h",
            "routes": [
                {"receiver": "r2", "matchers": ['priority="low"'], "group_wait": "5m", "repeat_interval": "24h"}
            ],
        },
        "receivers": [{"name": "r1", "pagerduty_configs": [{"routing_key": "k"}]}, {"name": "r2"}],
    }
    scaled = scale_alertmanager(config, SPEED, "http://127.0.0.1:1/hook", "/tmp/token")
    assert scaled["route"]["group_wait"] == "0s"
    assert scaled["route"]["group_interval"] == "5s"
    assert scaled["route"]["repeat_interval"] == "60s"
    assert scaled["route"]["routes"][0] == {
        "receiver": "r2",
        "matchers": ['priority="low"'],
        "group_wait": "5s",
        "repeat_interval": "1440s",
    }
    assert [r["name"] for r in scaled["receivers"]] == ["r1", "r2"]
    assert all(r["webhook_configs"][0]["url"] == "http://127.0.0.1:1/hook" for r in scaled["receivers"])
    assert "pagerduty_configs" not in scaled["receivers"][0]


@pytest.mark.parametrize("text", ["5", "5 m", "m5", "5mm", ""])
def test_a_malformed_duration_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        parse_seconds(text)
