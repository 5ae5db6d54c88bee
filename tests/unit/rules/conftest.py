"""Rules and alerts built from short YAML, for the backtest's unit tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.rules.rule_files import AlertingRule, RuleSet, load_rule_files


@pytest.fixture
def alerting_rule(tmp_path: Path) -> Callable[..., AlertingRule]:
    """An alerting rule from keyword fields (``for_`` for ``for``), in a group of interval 15s."""

    def make(**fields: object) -> AlertingRule:
        rule = {"alert": "Test", "expr": "x > 1", **{k.rstrip("_"): v for k, v in fields.items()}}
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "g", "interval": "15s", "rules": [rule]}]}))
        return load_rule_files([path]).alerting[0]

    return make


@pytest.fixture
def rule_set(tmp_path: Path) -> Callable[..., RuleSet]:
    """A rule set from groups in a rule file's shape: ``rule_set({"name": "g", "rules": [...]}, ...)``."""

    def make(*groups: Mapping[str, Any]) -> RuleSet:
        path = tmp_path / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": [dict(group) for group in groups]}))
        return load_rule_files([path])

    return make
