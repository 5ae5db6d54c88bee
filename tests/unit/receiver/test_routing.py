from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.settings import ConfigError
from receiver.config.routing import Priority, RoutingPolicy, priority_from_labels


def test_priority_comes_from_the_label_and_unknown_values_default_to_high_flagged() -> None:
    assert priority_from_labels({"priority": "Critical"}) == (Priority.CRITICAL, False)
    assert priority_from_labels({"priority": "low"}) == (Priority.LOW, False)
    assert priority_from_labels({}) == (Priority.HIGH, True)
    assert priority_from_labels({"priority": "p1"}) == (Priority.HIGH, True)


def test_default_policy_routes_each_priority_to_its_channels_and_deadlines() -> None:
    policy = RoutingPolicy()
    assert policy.channels_for({}, Priority.CRITICAL) == ("pagerduty", "slack", "sms")
    assert policy.channels_for({}, Priority.HIGH) == ("pagerduty", "slack")
    assert policy.channels_for({}, Priority.MEDIUM) == ("slack", "email")
    assert policy.channels_for({}, Priority.LOW) == ("email_digest",)
    deadlines = {p: policy.policy(p).ack_deadline for p in Priority}
    assert deadlines == {Priority.CRITICAL: 300, Priority.HIGH: 3600, Priority.MEDIUM: 86400, Priority.LOW: None}


def test_a_yaml_policy_refines_routes_by_label_and_overrides_priorities(tmp_path: Path) -> None:
    path = tmp_path / "routing.yml"
    path.write_text(
        """
fallback: webhook
priorities:
  critical: {ack_deadline: 2m, escalation: [pagerduty]}
routes:
  - match: {priority: high, service: exporter}
    channels: [slack]
"""
    )
    policy = RoutingPolicy.from_file(path)
    assert policy.fallback == "webhook"
    assert policy.channels_for({"service": "exporter"}, Priority.HIGH) == ("slack",)
    assert policy.channels_for({"service": "asset"}, Priority.HIGH) == ("pagerduty", "slack")
    assert policy.policy(Priority.CRITICAL).ack_deadline == 120
    assert policy.policy(Priority.CRITICAL).escalation == ("pagerduty",)
    assert policy.policy(Priority.CRITICAL).channels == ("pagerduty", "slack", "sms")


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("routes: [{match: {service: a}, channels: [carrier-pigeon]}]", "routes[0].channels"),
        ("priorities: {critical: {channels: slack}}", "priorities.critical.channels"),
        ("fallback: fax", "fallback"),
        ("rutes: []", "unknown keys"),
        ("routes: [{channels: [slack]}]", "routes[0].match"),
    ],
)
def test_a_bad_policy_fails_fast_naming_the_key(tmp_path: Path, text: str, word: str) -> None:
    path = tmp_path / "routing.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=word.replace("[", r"\[").replace("]", r"\]")):
        RoutingPolicy.from_file(path)
