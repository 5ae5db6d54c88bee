"""The backtest pipeline: rule files and a window in, firings, notifications, pages and a diff out.

    rules ─ expansion ─ history (query_range per chunk) ─ evaluation ─ alert_relabel
          ─ dispatch (Alertmanager) ─ [notification stages: Q2's incident grouping] ─ receiver_policy

Each group is evaluated at Prometheus's own instants (``schedule``): every interval, at the
offset Prometheus gives the group, and the recording rules an alert reads at the instants of
their own groups (``expansion``). Each rule starts ``for`` earlier than the window so an
alert already pending when it opens fires when it would have. Identical queries of the
candidate and the baseline are asked once and fed to both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ops.rules.alert_relabel import AlertLabeller
from ops.rules.alertmanager_config import AlertmanagerConfig
from ops.rules.diff import Change, compare
from ops.rules.dispatch import Alert, Notification, dispatch
from ops.rules.durations import format_duration
from ops.rules.evaluation import AlertStates, Episode, EvaluationWarning
from ops.rules.expansion import ExpansionUnsupported, RecordingRules, running_recordings
from ops.rules.history import PrometheusHistory, PrometheusSetup, QueryRejected
from ops.rules.receiver_policy import NotificationStage, Page, apply_stages, pages
from ops.rules.rule_files import AlertingRule, RuleFileInvalid, RuleSet, rule_set_from_mapping
from ops.rules.schedule import Schedule
from receiver.config.routing import RoutingPolicy


class RuleQueryFailed(Exception):
    """Prometheus refused a rule's query; the message names the rule and the chunk."""


@dataclass(frozen=True)
class Window:
    since: float
    until: float


@dataclass(frozen=True)
class RunResult:
    """One rule set over the window."""

    rules: tuple[AlertingRule, ...]
    episodes: tuple[Episode, ...]
    alerts: tuple[Alert, ...]
    notifications: tuple[Notification, ...]
    pages: tuple[Page, ...]
    warnings: tuple[str, ...]
    # notifications Alertmanager may also send: only the other settlement of a race would (``Dispatched``)
    unsettled: tuple[Notification, ...] = ()


@dataclass(frozen=True)
class Backtest:
    window: Window
    prometheus: str
    candidate: RunResult
    baseline: RunResult | None
    changes: tuple[Change, ...]
    query_seconds: float
    evaluation_seconds: float
    queries: int
    evaluations: int


@dataclass
class _Job:
    rule: AlertingRule
    states: AlertStates
    run: str


@dataclass
class _Query:
    text: str
    start: float
    step: float
    steps: int
    jobs: list[_Job] = field(default_factory=list)


def rules_loaded(setup: PrometheusSetup) -> RuleSet:
    """The rules Prometheus has loaded now (``/api/v1/rules``) as a rule set."""
    files: dict[str, list[dict[str, Any]]] = {}
    for group in setup.rule_groups:
        rules = []
        for rule in group.get("rules") or []:
            if rule.get("type") == "alerting":
                rules.append(
                    {
                        "alert": rule["name"],
                        "expr": rule["query"],
                        "for": format_duration(float(rule.get("duration") or 0)),
                        "keep_firing_for": format_duration(float(rule.get("keepFiringFor") or 0)),
                        "labels": rule.get("labels") or {},
                        "annotations": rule.get("annotations") or {},
                    }
                )
            else:
                rules.append({"record": rule["name"], "expr": rule["query"], "labels": rule.get("labels") or {}})
        interval = format_duration(float(group.get("interval") or setup.evaluation_interval))
        source = f"Prometheus's {group.get('file') or 'rules'}"
        files.setdefault(source, []).append({"name": group["name"], "interval": interval, "rules": rules})
    return rule_set_from_mapping(files, setup.evaluation_interval)


def run(
    history: PrometheusHistory,
    setup: PrometheusSetup,
    window: Window,
    candidate: RuleSet,
    alertmanager: AlertmanagerConfig,
    policy: RoutingPolicy,
    baseline: RuleSet | None = None,
    stages: Sequence[NotificationStage] = (),
    recompute_recordings: bool = False,
) -> Backtest:
    """The backtest of ``candidate`` (and ``baseline``) over ``window``.

    Recording rules Prometheus runs as written are read where Prometheus recorded them
    (``expansion.RecordingRules``) unless ``recompute_recordings``.
    """
    began = time.perf_counter()
    queries_before, query_seconds_before = history.queries, history.query_seconds
    labeller = AlertLabeller.from_setup(setup.external_labels, setup.alert_relabel_configs)
    schedule = Schedule(setup.rule_groups)
    running = frozenset() if recompute_recordings else running_recordings(setup.rule_groups, setup.evaluation_interval)
    plans: dict[tuple[str, float, float, int], _Query] = {}
    jobs: dict[str, list[_Job]] = {"candidate": [], "baseline": []}
    for name, rule_set in (("candidate", candidate), ("baseline", baseline)):
        if rule_set is None:
            continue
        recording = RecordingRules(rule_set.recording, schedule.offset_ms, round(setup.lookback * 1000), running)
        for rule in rule_set.alerting:
            try:
                query = recording.expand(rule)
            except ExpansionUnsupported as exc:
                raise RuleFileInvalid(f"{rule.where}: {exc}") from None
            step = rule.interval
            step_ms = round(step * 1000)
            offset_ms = schedule.offset_ms(rule.file, rule.group, step)
            earliest = math.ceil((window.since - rule.for_seconds) * 1000)
            first = (earliest + (offset_ms - earliest) % step_ms) / 1000
            steps = math.floor((window.until - first) / step + 1e-9) + 1
            job = _Job(rule, AlertStates(rule, setup.external_labels), name)
            jobs[name].append(job)
            plans.setdefault((query, first, step, steps), _Query(query, first, step, steps)).jobs.append(job)
    evaluations = 0
    for plan in plans.values():
        for chunk_start, chunk_steps in history.chunks(
            plan.start, plan.start + (plan.steps - 1) * plan.step, plan.step
        ):
            try:
                chunk = history.query_range(plan.text, chunk_start, chunk_steps, plan.step)
            except QueryRejected as exc:
                rule = plan.jobs[0].rule
                span = f"{format_duration(chunk_steps * plan.step)} from {chunk_start:.0f}"
                raise RuleQueryFailed(f"{rule.where}: Prometheus refused its query over {span}: {exc}") from None
            per_step: list[list[tuple[Mapping[str, str], float]]] = [[] for _ in range(chunk_steps)]
            for labels, values in chunk.series:
                for k, value in values.items():
                    if 0 <= k < chunk_steps:
                        per_step[k].append((labels, value))
            for k, samples in enumerate(per_step):
                t = chunk_start + k * plan.step
                for job in plan.jobs:
                    job.states.step(t, samples)
            evaluations += chunk_steps * len(plan.jobs)
    results = {
        name: _deliver(items, setup, window, labeller, alertmanager, policy, stages)
        for name, items in jobs.items()
        if name == "candidate" or baseline is not None
    }
    changes: list[Change] = []
    if baseline is not None:
        step = min((r.interval for r in candidate.alerting), default=setup.evaluation_interval)
        changes = compare(results["candidate"].episodes, results["baseline"].episodes, window.until, tolerance=step)
    query_seconds = history.query_seconds - query_seconds_before
    return Backtest(
        window=window,
        prometheus=history.url,
        candidate=results["candidate"],
        baseline=results.get("baseline"),
        changes=tuple(changes),
        query_seconds=query_seconds,
        evaluation_seconds=time.perf_counter() - began - query_seconds,
        queries=history.queries - queries_before,
        evaluations=evaluations,
    )


def _deliver(
    jobs: Sequence[_Job],
    setup: PrometheusSetup,
    window: Window,
    labeller: AlertLabeller,
    alertmanager: AlertmanagerConfig,
    policy: RoutingPolicy,
    stages: Sequence[NotificationStage],
) -> RunResult:
    episodes: list[Episode] = []
    warnings: list[str] = []
    for job in jobs:
        history = job.states.finish()
        episodes += [
            e for e in history.episodes if e.fired_at <= window.until and (e.resolved_at or math.inf) > window.since
        ]
        warnings += _warnings(job.rule, history.warnings)
    alerts = []
    for episode in episodes:
        labels = labeller(episode.labels)
        if labels is None:
            continue
        period = (math.floor(setup.resend_delay / episode.rule.interval) + 1) * episode.rule.interval

        def annotations(at: float, episode: Episode = episode, period: float = period) -> Mapping[str, str]:
            sent = episode.fired_at + math.floor(max(0.0, at - episode.fired_at) / period) * period
            return episode.annotations_at(sent, setup.external_labels)

        alerts.append(
            Alert(
                labels,
                episode.fired_at,
                episode.resolved_at,
                annotations,
                episode.rule.key,
                episode.rule.position,
                lag=episode.rule.interval,
            )
        )
    dispatched = dispatch(alertmanager, alerts, window.until)
    notifications = apply_stages(dispatched.sent, stages)
    return RunResult(
        rules=tuple(job.rule for job in jobs),
        episodes=tuple(episodes),
        alerts=tuple(alerts),
        notifications=tuple(n for n in notifications if n.at >= window.since),
        pages=tuple(p for p in pages(notifications, policy) if p.at >= window.since),
        warnings=(*alertmanager.warnings, *warnings),
        unsettled=tuple(n for n in dispatched.unsettled if n.at >= window.since),
    )


def _warnings(rule: AlertingRule, found: Sequence[EvaluationWarning]) -> list[str]:
    if not found:
        return []
    first = found[0]
    more = f" (and {len(found) - 1} more evaluations)" if len(found) > 1 else ""
    return [f"{rule.where}: evaluation at {first.at:.0f} failed: {first.message}{more}"]
