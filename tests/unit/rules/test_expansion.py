"""Recording rules inlined at their groups' instants, and what the backtest refuses rather than guesses.

That the inlined expressions give what Prometheus recorded is shown against a live Prometheus in
tests/integration/rules/test_recorded_instants.py; these tests pin the rewriting itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from ops.rules.expansion import ExpansionUnsupported, RecordingRules, RunningKey, running_key
from ops.rules.rule_files import RuleSet

RECORDING: dict[str, Any] = {
    "name": "recording",
    "interval": "15s",
    "rules": [
        {"record": "job:x:sum", "expr": "sum by (job) (x)"},
        {"record": "job:x:rate5m", "expr": "sum by (job) (rate(x_total[5m]))"},
    ],
}


def offset_250ms(file: Path, group: str, interval: float) -> int:
    return 250 if group == "recording" else 0


def expanded(rule_set: Callable[..., RuleSet], expr: str, *groups: Mapping[str, Any]) -> str:
    rules = rule_set(*groups, {"name": "alerts", "interval": "15s", "rules": [{"alert": "A", "expr": expr}]})
    return RecordingRules(rules.recording, offset_250ms).expand(rules.alerting[0])


def test_an_expression_of_stored_series_is_asked_as_written(rule_set: Callable[..., RuleSet]) -> None:
    assert expanded(rule_set, 'rate(x{a=~"b|c"}[5m] offset 1m) > 0', RECORDING) == (
        'rate(x{a=~"b|c"}[5m] offset 1m) > 0'
    )


def test_a_recorded_series_is_its_last_recording_at_its_group_s_instants(rule_set: Callable[..., RuleSet]) -> None:
    # the recording group runs 250 ms into each 15 s: its expression reads 250 ms later than the
    # subquery's steps (multiples of 15 s), whose window ends 250 ms later than the alert's instant
    assert expanded(rule_set, "job:x:sum > 1", RECORDING) == (
        'last_over_time((label_replace(sum by (job) (x offset -250ms), "__name__", "job:x:sum", "", ""))'
        "[15s:15s] offset 250ms) > 1"
    )


def test_a_range_over_a_recorded_series_is_a_subquery_at_its_group_s_instants(
    rule_set: Callable[..., RuleSet],
) -> None:
    assert expanded(rule_set, "avg_over_time(job:x:rate5m[1h] offset 10m) > 1", RECORDING) == (
        'avg_over_time((label_replace(sum by (job) (rate(x_total[5m] offset -250ms)), "__name__", "job:x:rate5m", '
        '"", ""))[1h:15s] offset 10m250ms) > 1'
    )


def test_a_rule_reading_a_later_rule_of_its_own_group_reads_its_previous_evaluation(
    rule_set: Callable[..., RuleSet],
) -> None:
    group: dict[str, Any] = {
        "name": "recording",
        "interval": "15s",
        "rules": [{"record": "early", "expr": "later + 1"}, {"record": "later", "expr": "vector(2)"}],
    }
    rules = rule_set(group)
    early = rules.recording[0]
    inlined = RecordingRules(rules.recording, offset_250ms)
    reader = rule_set({**group, "rules": [*group["rules"], {"alert": "A", "expr": "early > 0"}]}).alerting[0]
    text = inlined.expand(reader)
    # `later` at the instant of `early` ends its window 1 ms before: the evaluation before
    assert "[15s:15s] offset 1ms)" in text
    assert early.record in text


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ('{__name__=~"job:x:.*"} > 1', "may select series recorded by the given files (job:x:rate5m, job:x:sum)"),
        ("up offset -1m == 0", "a negative offset read samples that did not exist yet"),
        ("up @ start() == 0", "`@ start()` and `@ end()` mean the evaluation time of an instant query"),
        ("time() - timestamp(job:x:sum) > 60", "the timestamps of a recorded series are when Prometheus recorded it"),
        ("rate(twice[5m]) > 0", "reads twice, recorded by rules of different groups"),
        ("cycle_a > 0", "recording rules read each other in a cycle: cycle_a -> cycle_b -> cycle_a"),
    ],
)
def test_what_cannot_be_replayed_exactly_is_refused_naming_the_selector(
    rule_set: Callable[..., RuleSet], expr: str, message: str
) -> None:
    other: dict[str, Any] = {
        "name": "other",
        "rules": [
            {"record": "twice", "expr": "vector(1)", "labels": {"copy": "2"}},
            {"record": "cycle_a", "expr": "cycle_b"},
            {"record": "cycle_b", "expr": "cycle_a"},
        ],
    }
    with_twice = {**RECORDING, "rules": [*RECORDING["rules"], {"record": "twice", "expr": "vector(1)"}]}
    with pytest.raises(ExpansionUnsupported) as raised:
        expanded(rule_set, expr, with_twice, other)
    assert message in str(raised.value)


def running(rules: RuleSet, *records: str) -> frozenset[RunningKey]:
    """The recording rules ``records`` as Prometheus would run them: as written in ``rules``."""
    return frozenset(
        running_key(r.file, r.group, r.interval, r.record, r.expr, r.labels)
        for r in rules.recording
        if r.record in records
    )


def test_a_recording_rule_prometheus_runs_as_written_is_read_where_it_recorded_it(
    rule_set: Callable[..., RuleSet],
) -> None:
    rules = rule_set(
        RECORDING, {"name": "alerts", "interval": "15s", "rules": [{"alert": "A", "expr": "job:x:sum > 1"}]}
    )
    text = RecordingRules(rules.recording, offset_250ms, running=running(rules, "job:x:sum")).expand(rules.alerting[0])
    stored = "last_over_time(job:x:sum{}[1ms] offset -250ms)"
    assert f"{stored} or (label_replace(" in text  # computed only where Prometheus recorded nothing
    assert f"unless on () {stored})" in text


def test_a_rule_reading_an_edited_recording_is_computed_even_where_prometheus_ran_it(
    rule_set: Callable[..., RuleSet],
) -> None:
    reader = {"record": "job:x:double", "expr": "job:x:sum * 2"}
    rules = rule_set(
        {**RECORDING, "rules": [*RECORDING["rules"], reader]},
        {"name": "alerts", "interval": "15s", "rules": [{"alert": "A", "expr": "job:x:double > 1"}]},
    )
    # Prometheus runs job:x:double as written, but job:x:sum differently (it was edited)
    text = RecordingRules(rules.recording, offset_250ms, running=running(rules, "job:x:double")).expand(
        rules.alerting[0]
    )
    assert "[1ms]" not in text
