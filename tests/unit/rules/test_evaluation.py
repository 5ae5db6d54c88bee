"""Evaluation semantics: for, keep_firing_for, resolve, re-fire and label templating, as Prometheus steps them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ops.rules.evaluation import Series, evaluate
from ops.rules.rule_files import AlertingRule

STEP = 15.0


def present(pattern: str) -> list[float | None]:
    """``"..XXX."`` -> a series absent at '.', 1.0 at 'X'."""
    return [1.0 if c == "X" else None for c in pattern]


@pytest.mark.parametrize(
    ("pattern", "for_", "keep", "expected"),
    [
        # (fired at step, resolved at step or None)
        ("..XXXX..", "0s", "0s", [(2, 6)]),
        ("..XXXX..", "30s", "0s", [(4, 6)]),  # pending for 2 steps, fires when t - active_at >= for
        ("..XX....", "30s", "0s", []),  # gone before `for` elapsed: never fires
        ("..XXX.XXX.", "15s", "0s", [(3, 5), (7, 9)]),  # a gap resolves; the return is a new alert
        ("..XXX.XXX....", "15s", "30s", [(3, 11)]),  # keep_firing_for bridges a one-step gap
        ("..XX......", "0s", "30s", [(2, 6)]),  # kept firing 30s past the last true evaluation
        ("XXXXXXXX", "0s", "0s", [(0, None)]),  # still firing at the end
    ],
)
def test_an_alert_fires_after_for_and_resolves_as_prometheus_steps_it(
    alerting_rule: Callable[..., AlertingRule],
    pattern: str,
    for_: str,
    keep: str,
    expected: list[tuple[int, int | None]],
) -> None:
    rule = alerting_rule(for_=for_, keep_firing_for=keep)
    history = evaluate(rule, [Series({"__name__": "x", "job": "a"}, present(pattern))], 1000.0, STEP, len(pattern))
    got = [
        (round((e.fired_at - 1000) / STEP), None if e.resolved_at is None else round((e.resolved_at - 1000) / STEP))
        for e in history.episodes
    ]
    assert got == expected


@pytest.mark.parametrize(
    ("labels", "series", "value", "expected"),
    [
        ({"priority": "high"}, {"__name__": "x", "job": "a"}, 2.0, {"job": "a", "priority": "high"}),
        ({"service": "{{ $labels.source }}"}, {"source": "asset"}, 2.0, {"source": "asset", "service": "asset"}),
        ({"level": "{{ if gt $value 1.0 }}hi{{ end }}"}, {}, 2.0, None),  # refused when the file loads
        ({"job": ""}, {"job": "a"}, 2.0, {}),  # an empty templated label removes the label
        ({"v": "{{ $value | humanizePercentage }}"}, {}, 0.25, {"v": "25%"}),
        ({"v": "{{ .Value }} {{ .Labels.job }}"}, {"job": "a"}, 1e21, {"job": "a", "v": "1e+21 a"}),
    ],
)
def test_alert_labels_are_the_series_labels_with_the_rules_templated_labels(
    alerting_rule: Callable[..., AlertingRule],
    labels: dict[str, str],
    series: dict[str, str],
    value: float,
    expected: dict[str, str] | None,
) -> None:
    if expected is None:
        with pytest.raises(Exception, match="not supported by the backtest"):
            alerting_rule(labels=labels)
        return
    rule = alerting_rule(labels=labels)
    history = evaluate(rule, [Series(series, [value])], 0.0, STEP, 1)
    assert dict(history.episodes[0].labels) == {**expected, "alertname": "Test"}


def test_two_series_with_the_same_alert_labels_fail_the_evaluation_and_change_nothing(
    alerting_rule: Callable[..., AlertingRule],
) -> None:
    rule = alerting_rule(labels={"job": "same"})
    series = [Series({"job": "a"}, [1.0, 1.0]), Series({"job": "b"}, [None, 1.0])]
    history = evaluate(rule, series, 0.0, STEP, 2)
    assert [e.fired_at for e in history.episodes] == [0.0]
    assert [w.at for w in history.warnings] == [15.0]
    assert "same labelset" in history.warnings[0].message


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("{{ $value | humanize }}", 1234.5, "1.234k"),
        ("{{ $value | humanize }}", 0.0012, "1.2m"),
        ("{{ $value | humanizeDuration }}", 3725.0, "1h 2m 5s"),
        ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
        ("{{ $value | humanizePercentage }}", 0.0512, "5.12%"),
        ("{{ $labels.missing }}", 1.0, "<no value>"),
        ('{{ printf "%.2f" $value }}', 3.14159, "3.14"),
        ("{{ $externalLabels.monitor }}", 1.0, "investment-platform"),
    ],
)
def test_annotations_render_as_prometheus_renders_them(
    alerting_rule: Callable[..., AlertingRule], template: str, value: float, expected: str
) -> None:
    rule = alerting_rule(annotations={"summary": template})
    history = evaluate(rule, [Series({}, [value])], 0.0, STEP, 1)
    assert history.episodes[0].annotations_at(0.0, {"monitor": "investment-platform"}) == {"summary": expected}
