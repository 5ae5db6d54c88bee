"""Configuration files in bad shapes fail at start-up with file, line and reason."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.consistency import load_rules
from exporter.health_checks import load_checks
from exporter.queries import load_queries
from monitoring.settings import ConfigError
from receiver.config.routing import RoutingPolicy
from tests.unit.bad_input.strategies import FUZZ

Loader = Callable[[Path], object]
LOADERS: dict[str, Loader] = {
    "routing": RoutingPolicy.from_file,
    "expectations": load_rules,
    "queries": load_queries,
    "health": load_checks,
}

QUERY = "  - name: q\n    help: h\n    database: postgres\n    sql: SELECT 1 AS value\n    value: value\n"
CHECK = "  - name: api\n    url: http://127.0.0.1:1/health\n"
RULE = "  - name: r\n    cause: {type: A}\n    followup: {type: B}\n"

# (loader, file text, expected line, words of the reason)
BAD: list[tuple[str, str, int, str]] = [
    ("routing", "fallback: email\npriorities: [critical]\n", 2, "priorities: expected a mapping"),
    ("routing", "priorities:\n  critical: [slack]\n", 2, "priorities.critical: expected a mapping"),
    ("routing", "priorities:\n  urgent: {channels: [slack]}\n", 2, "unknown priority 'urgent'"),
    ("routing", "priorities:\n  critical:\n    channels: [slack]\n    retry_budget: lots\n", 4, "retry_budget"),
    ("routing", "priorities:\n  low:\n    ack_deadline: soon\n", 3, "ack_deadline: expected a duration"),
    ("routing", "priorities:\n  low:\n    chanels: [slack]\n", 3, "unknown keys ['chanels']"),
    ("routing", "fallback: email\nroutes:\n  - match: {a: b}\n    channels: [fax]\n", 4, "routes[0].channels"),
    ("routing", "routes: {match: x}\n", 1, "routes: expected a list"),
    ("routing", "routes:\n  - just a string\n", 2, "routes[0]: expected a mapping"),
    ("routing", "- a list\n- at the top\n", 1, "the document: expected a mapping"),
    ("routing", "fallback: [email]\n", 1, "fallback: expected one of"),
    ("routing", "fallback: email\n  bad: indentation\n", 2, "invalid YAML"),
    ("routing", "fallback: 'unterminated\n", 2, "invalid YAML"),
    ("expectations", "followups:\n" + RULE + "    within: tomorrow\n", 5, "within: expected a duration"),
    ("expectations", "followups:\n" + RULE + "    colour: red\n", 5, "unknown field `colour`"),
    ("expectations", "followups:\n" + RULE + RULE, 5, "rule names must be unique"),
    ("expectations", "followups:\n  - name: r\n    cause: A\n", 3, "$.followups[0].cause"),
    ("expectations", "followups: 3\n", 1, "Expected `array`"),
    (
        "queries",
        "queries:\n" + QUERY + "  - name: bad name\n    help: h\n    database: postgres\n    sql: x\n    value: v\n",
        7,
        "not a valid Prometheus metric name",
    ),
    ("queries", "queries:\n" + QUERY.replace("postgres", "oracle"), 4, "$.queries[0].database"),
    ("queries", "queries:\n" + QUERY + "    interval: -5s\n", 2, "interval/timeout"),
    ("queries", "queries:\n" + QUERY + "    labels: {__x: y}\n", 2, "label column"),
    ("queries", "queries:\n" + QUERY + QUERY, 7, "duplicate name"),
    ("health", "services:\n" + CHECK + "    tcp: db:5432\n", 2, "exactly one of url or tcp"),
    ("health", "services:\n" + CHECK + "    expected_status: ok\n", 4, "$.services[0].expected_status"),
    ("health", "services:\n" + CHECK + "    failures_to_down: 0\n", 2, "at least 1"),
    ("health", "servces: []\n", 1, "unknown field `servces`"),
]


@pytest.mark.parametrize(("loader", "text", "line", "reason"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_configuration_file_fails_naming_file_line_and_reason(
    tmp_path: Path, loader: str, text: str, line: int, reason: str
) -> None:
    path = tmp_path / f"{loader}.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        LOADERS[loader](path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert reason in message


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_missing_or_non_utf8_file_fails_naming_the_file(tmp_path: Path, loader: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'absent.yml'}: cannot read")):
        LOADERS[loader](tmp_path / "absent.yml")
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"# ok\nfallback: caf\xe9\n")
    with pytest.raises(ConfigError, match=re.escape(f"{latin}:2: ") + ".*not UTF-8"):
        LOADERS[loader](latin)


yaml_ish = st.text(alphabet=st.sampled_from(list("abc:-[]{}'\"\n #&*!|>%@`,?0123456789\t")), max_size=120)


@FUZZ
@given(loader=st.sampled_from(sorted(LOADERS)), text=yaml_ish)
def test_any_text_either_loads_or_fails_with_a_file_and_line(
    tmp_path_factory: pytest.TempPathFactory, loader: str, text: str
) -> None:
    path = tmp_path_factory.getbasetemp() / f"fuzz-{loader}.yml"
    path.write_text(text, encoding="utf-8")
    problem: ConfigError | None = None
    try:
        LOADERS[loader](path)
    except ConfigError as exc:
        problem = exc
    assert problem is None or re.match(re.escape(str(path)) + r":\d+: \S", str(problem)), str(problem)


def test_promtool_rejects_bad_rule_shapes_naming_file_line_and_reason(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by make services"
    rule = "groups:\n  - name: g\n    rules:\n      - alert: A\n"
    cases = {  # promtool names the group and the rule where it has no line (a missing field)
        "no-expr.yml": (rule + "        for: 5m\n", 'rule 1, "A"', "expr"),
        "bad-expr.yml": (rule + "        expr: rate(x[5m]\n", "5:15:", "parse error"),
        "bad-field.yml": ("groups:\n  - name: g\n    rulez: []\n", "line 3:", "rulez"),
    }
    for name, (text, line, reason) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert str(path) in output, output
        assert line in output, output
        assert reason in output, output
