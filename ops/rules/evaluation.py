"""An alerting rule's states over time, as Prometheus's rule manager steps them.

Input: the rule's expression evaluated at each evaluation time (a ``Series`` per result series,
``values[k]`` at ``start + k * step``, None where the series is absent). Output: the rule's
firing episodes. The state machine is Prometheus 2.42's ``AlertingRule.Eval``:

- a result series becomes an alert with labels = series labels - ``__name__`` + the rule's
  templated labels + ``alertname`` (an empty templated label removes it); two series with the
  same alert labels are an evaluation error (that step changes nothing, as in Prometheus);
- a new alert is pending at ``active_at``; it fires at the first evaluation with
  ``t - active_at ≥ for`` (at once when ``for`` is 0);
- when its series is gone, a pending alert is dropped; a firing one keeps firing while
  ``t - keep_firing_since < keep_firing_for`` (``keep_firing_since`` is the first evaluation
  without the series), then resolves at that evaluation; a series back before that resets it;
- a resolved alert whose series comes back is a new alert (new ``active_at``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ops.rules.rule_files import AlertingRule
from ops.rules.templating import TemplateData, TemplateInvalid

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    values: Sequence[float | None]


@dataclass(frozen=True)
class Episode:
    """One firing of one alert: from ``fired_at`` until ``resolved_at`` (None: still firing at the end)."""

    rule: AlertingRule
    labels: Labels
    series_labels: Mapping[str, str]  # what templates see as $labels
    active_at: float
    fired_at: float
    resolved_at: float | None
    values: tuple[tuple[float, float], ...]  # (evaluation time, value) at each change while active

    @property
    def alertname(self) -> str:
        return dict(self.labels)["alertname"]

    def value_at(self, at: float) -> float:
        """The value of the last evaluation at or before ``at``."""
        last = self.values[0][1]
        for t, value in self.values:
            if t > at:
                break
            last = value
        return last

    def annotations_at(self, at: float, external_labels: Mapping[str, str]) -> dict[str, str]:
        """The annotations as rendered by the evaluation at or before ``at``."""
        data = TemplateData(self.series_labels, self.value_at(at), external_labels)
        out = {}
        for name, template in self.rule.annotation_templates.items():
            try:
                out[name] = template.render(data)
            except TemplateInvalid as exc:
                out[name] = f"<error expanding template: {exc}>"
        return out

    def firing_seconds(self, since: float, until: float) -> float:
        end = until if self.resolved_at is None else min(self.resolved_at, until)
        return max(0.0, end - max(self.fired_at, since))


@dataclass(frozen=True)
class EvaluationWarning:
    at: float
    message: str


@dataclass
class _Active:
    labels: Labels
    series_labels: Mapping[str, str]
    active_at: float
    fired_at: float | None = None
    keep_firing_since: float | None = None
    values: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class RuleHistory:
    episodes: tuple[Episode, ...]
    warnings: tuple[EvaluationWarning, ...]


def alert_labels(rule: AlertingRule, series: Mapping[str, str], value: float, external: Mapping[str, str]) -> Labels:
    """The labels of the alert ``series`` raises (Prometheus: series - __name__ + templated rule labels)."""
    data = TemplateData(labels=series, value=value, external_labels=external)
    out = {k: v for k, v in series.items() if k != "__name__"}
    for name, template in rule.label_templates.items():
        rendered = template.render(data)
        if rendered:
            out[name] = rendered
        else:
            out.pop(name, None)
    out["alertname"] = rule.alert
    return tuple(sorted(out.items()))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class AlertStates:
    """One rule's alerts, stepped one evaluation at a time (``step``), in time order."""

    def __init__(self, rule: AlertingRule, external_labels: Mapping[str, str] | None = None) -> None:
        self.rule = rule
        self._external = external_labels or {}
        self._static = all(t.is_static for t in rule.label_templates.values())
        self._labels: dict[tuple[tuple[str, str], ...], Labels] = {}
        self._active: dict[Labels, _Active] = {}
        self.episodes: list[Episode] = []
        self.warnings: list[EvaluationWarning] = []

    def _alert_labels(self, series: Mapping[str, str], value: float) -> Labels:
        if not self._static:
            return alert_labels(self.rule, series, value, self._external)
        key = tuple(sorted(series.items()))
        if key not in self._labels:
            self._labels[key] = alert_labels(self.rule, series, value, self._external)
        return self._labels[key]

    def step(self, t: float, samples: Sequence[tuple[Mapping[str, str], float]]) -> None:
        """The rule's expression returned ``samples`` (series labels, value) at evaluation time ``t``."""
        results: dict[Labels, tuple[Mapping[str, str], float]] = {}
        for series, value in samples:
            try:
                labels = self._alert_labels(series, value)
            except TemplateInvalid as exc:
                self.warnings.append(EvaluationWarning(t, f"label template: {exc}"))
                return  # Prometheus fails this evaluation: the alerts keep their state
            if labels in results:
                message = "vector contains metrics with the same labelset after applying alert labels"
                self.warnings.append(EvaluationWarning(t, message))
                return
            results[labels] = (series, value)
        for labels, (series, value) in results.items():
            alert = self._active.get(labels)
            if alert is None:
                alert = self._active[labels] = _Active(labels, series, t)
            alert.keep_firing_since = None
            if not alert.values or not _same(alert.values[-1][1], value):
                alert.values.append((t, value))
        for labels in list(self._active):
            alert = self._active[labels]
            if labels not in results:
                if alert.fired_at is None:
                    del self._active[labels]
                    continue
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = t
                if self.rule.keep_firing_for <= 0 or t - alert.keep_firing_since >= self.rule.keep_firing_for:
                    self._close(alert, t)
                    del self._active[labels]
                    continue
            if alert.fired_at is None and t - alert.active_at >= self.rule.for_seconds - 1e-9:
                alert.fired_at = t

    def _close(self, alert: _Active, resolved_at: float | None) -> None:
        if alert.fired_at is not None:
            episode = Episode(
                self.rule,
                alert.labels,
                alert.series_labels,
                alert.active_at,
                alert.fired_at,
                resolved_at,
                tuple(alert.values),
            )
            self.episodes.append(episode)

    def finish(self) -> RuleHistory:
        """The episodes so far; alerts still firing end with ``resolved_at`` None."""
        for alert in self._active.values():
            self._close(alert, None)
        self._active.clear()
        self.episodes.sort(key=lambda e: (e.fired_at, e.labels))
        return RuleHistory(tuple(self.episodes), tuple(self.warnings))


def evaluate(
    rule: AlertingRule,
    series: Sequence[Series],
    start: float,
    step: float,
    steps: int,
    external_labels: Mapping[str, str] | None = None,
) -> RuleHistory:
    """The firing episodes of ``rule`` over ``steps`` evaluations from ``start``, ``step`` apart."""
    states = AlertStates(rule, external_labels)
    for k in range(steps):
        samples = [(s.labels, v) for s in series if k < len(s.values) and (v := s.values[k]) is not None]
        states.step(start + k * step, samples)
    return states.finish()
