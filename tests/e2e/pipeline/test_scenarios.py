"""From a fault on the platform to the right people, through every real component, and back.

Each scenario injects one fault, then checks that the right alert fires with the right
priority, reaches exactly the channels the receiver's default policy routes that priority to
(the receiver's timeline and the channel sinks agree), is in the alert history, and resolves
once the fault clears. The scenarios share one pipeline and run in file order; the last one follows every link of every
notification the channels received.
"""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
import yaml

from ops.rules import backtest
from ops.rules.alertmanager_config import load_alertmanager_config
from ops.rules.history import PrometheusHistory
from ops.rules.receiver_policy import received
from ops.rules.rule_files import load_rule_files
from receiver.config.routing import RoutingPolicy
from receiver.operations import is_watchdog
from tests import notification_links
from tests.e2e.pipeline.conftest import ASSET_DOWN_AT, ASSET_UP_AT, STEP_AT, STEP_END
from tests.e2e.pipeline.harness import CHANNELS, PLATFORM_SERVICES, Pipeline, delivered_for, get_json, wait_for

INTERVAL = 1.0  # the e2e configuration's scrape and evaluation interval (ops.local.fast_config)
ROUTES = {
    "critical": {"pagerduty", "slack", "sms"},
    "high": {"pagerduty", "slack"},
    "medium": {"slack", "email"},
}


def epoch(iso: str | None) -> float:
    assert iso is not None
    return datetime.fromisoformat(iso).timestamp()


def matching(
    pipeline: Pipeline, alertname: str, service: str, priority: str, since: float, labels: dict[str, str]
) -> list[dict[str, Any]]:
    return [
        a
        for a in pipeline.history()
        if a["alertname"] == alertname
        and a["service"] == service
        and a["priority"] == priority
        and epoch(a["firstSeen"]) >= since
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def channels(pipeline: Pipeline, alert: dict[str, Any], action: str) -> set[str]:
    return {d.channel for d in delivered_for(alert, pipeline.deliveries()) if d.action == action}


def reached(pipeline: Pipeline, alert: dict[str, Any], action: str, expected: set[str]) -> bool:
    """The sinks got ``action`` on every expected channel (and, for triggers, the timeline says so)."""
    at_sinks = channels(pipeline, alert, action) >= expected
    return at_sinks and (action != "trigger" or notified_in_timeline(pipeline, alert) >= expected)


def notified_in_timeline(pipeline: Pipeline, alert: dict[str, Any]) -> set[str]:
    timeline = pipeline.alert_detail(alert["id"])["timeline"]
    return {entry["channel"] for entry in timeline if entry["kind"] == "notified"}


def assert_paged(
    pipeline: Pipeline,
    alertname: str,
    service: str,
    priority: str,
    *,
    since: float,
    count: int = 1,
    labels: dict[str, str] | None = None,
    timeout: float = 40,
) -> list[dict[str, Any]]:
    """Wait for ``count`` new alerts and their pages; check priority, channels and history."""
    labels = labels or {}

    def arrived() -> list[dict[str, Any]] | None:
        found = matching(pipeline, alertname, service, priority, since, labels)
        return found if len(found) >= count else None

    alerts = wait_for(
        arrived,
        timeout,
        f"{count} {priority} {alertname} for {service} {labels} in the receiver's history\n{pipeline.diagnostics()}",
    )
    expected = ROUTES[priority]
    for alert in alerts:
        assert alert["status"] == "firing"
        assert alert["priorityDefaulted"] is False
        assert alert["labels"]["priority"] == priority
        assert alert["annotations"]["runbook_url"] == f"{pipeline.receiver_url}/runbooks/{alertname.lower()}"
        assert alert["annotations"]["dashboard_url"].startswith("/d/")
        assert "runbook_base" not in alert["labels"]  # a setting of the rules, dropped from the alerts
        try:
            wait_for(partial(reached, pipeline, alert, "trigger", expected), 20, f"pages on {sorted(expected)}")
        except AssertionError as exc:
            sinks, timeline = channels(pipeline, alert, "trigger"), notified_in_timeline(pipeline, alert)
            raise AssertionError(f"{exc}: {alert['labels']} reached sinks {sinks}, timeline {timeline}") from None
        assert channels(pipeline, alert, "trigger") == expected
        assert notified_in_timeline(pipeline, alert) == expected
    others = set(CHANNELS) - expected
    assert not {d.channel for a in alerts for d in delivered_for(a, pipeline.deliveries())} & others
    return alerts


def assert_resolved(
    pipeline: Pipeline, alerts: list[dict[str, Any]], *, cleared_at: float, timeout: float = 40
) -> None:
    """Each alert resolves (not before ``cleared_at``) and the resolve reaches the same channels."""
    ids = {a["id"] for a in alerts}

    def resolved() -> list[dict[str, Any]] | None:
        now = [a for a in pipeline.history() if a["id"] in ids]
        return now if all(a["status"] == "resolved" for a in now) else None

    final = wait_for(resolved, timeout, f"{[a['alertname'] for a in alerts]} resolved\n{pipeline.diagnostics()}")
    for alert in final:
        # Alertmanager's endsAt is the evaluation that found the condition false; allow one interval.
        assert epoch(alert["resolvedAt"]) >= cleared_at - 1.0
        expected = ROUTES[alert["priority"]]
        wait_for(partial(reached, pipeline, alert, "resolve", expected), 20, f"resolves on {sorted(expected)}")
        assert channels(pipeline, alert, "resolve") == expected


def wall_clock_of(pipeline: Pipeline, fake_seconds: float) -> float:
    """The wall-clock time of a point on the fake services' timeline."""
    return time.time() - (pipeline.fake_time() - fake_seconds)


def test_a_platform_service_going_down_pages_critical_and_resolves_when_it_is_back(pipeline: Pipeline) -> None:
    wait_for(lambda: pipeline.fake_time() >= ASSET_DOWN_AT, ASSET_DOWN_AT + 5, "asset-service going down")
    down_since = wall_clock_of(pipeline, ASSET_DOWN_AT)
    # Two signals see it: Prometheus's failed scrape (up == 0) and the exporter's health check.
    alerts = assert_paged(pipeline, "ServiceDown", "asset-service", "critical", since=down_since, count=2)
    assert {a["labels"]["job"] for a in alerts} == {"platform", "exporter"}
    wait_for(lambda: pipeline.fake_time() >= ASSET_UP_AT, ASSET_UP_AT, "asset-service coming back")
    assert_resolved(pipeline, alerts, cleared_at=wall_clock_of(pipeline, ASSET_UP_AT))


def test_a_transaction_failure_burst_pages_critical_and_resolves_when_transactions_succeed_again(
    pipeline: Pipeline,
) -> None:
    since = time.time()
    pipeline.set_faults(failure_burst=0.8)
    try:
        alerts = assert_paged(pipeline, "TransactionSuccessRateDrop", "transaction-service", "critical", since=since)
    finally:
        pipeline.clear_faults()
    cleared = time.time()
    assert_resolved(pipeline, alerts, cleared_at=cleared)
    # The 95% (high) copy of the rule is inhibited by the critical one while both fire; if
    # Alertmanager sent it in the moment between their resolutions, it went to high's channels.
    for alert in matching(pipeline, "TransactionSuccessRateDrop", "transaction-service", "high", since, {}):
        assert channels(pipeline, alert, "trigger") <= ROUTES["high"]


def test_a_stalled_consumer_group_pages_critical_and_resolves_when_it_commits_again(pipeline: Pipeline) -> None:
    since = time.time()
    pipeline.set_faults(consumer="stall")
    try:
        group = {"group": pipeline.consumer_group}
        alerts = assert_paged(pipeline, "ConsumerGroupStalled", "kafka", "critical", since=since, labels=group)
        assert alerts[0]["labels"]["status"] in ("stall", "stop")
    finally:
        pipeline.clear_faults()
    assert_resolved(pipeline, alerts, cleared_at=time.time())


def test_a_missing_follow_up_event_pages_high_and_resolves_once_follow_ups_arrive_again(pipeline: Pipeline) -> None:
    since = time.time()
    pipeline.set_faults(drop_followup=0.5)
    try:
        alerts = assert_paged(
            pipeline,
            "ConsistencyViolation",
            "transaction-service",
            "high",
            since=since,
            labels={"violation": "missing_followup"},
        )
    finally:
        pipeline.clear_faults()
    # Follow-ups dropped just before the clear are only declared missing `within` (2s) later,
    # and the alert looks back over a 10s window: it resolves after those.
    assert_resolved(pipeline, alerts, cleared_at=time.time(), timeout=60)


def test_a_request_rate_step_after_a_steady_baseline_is_a_medium_anomaly_that_resolves_when_traffic_settles(
    pipeline: Pipeline,
) -> None:
    assert pipeline.fake_time() < STEP_AT, "the earlier scenarios ran past the request step; see conftest timeline"
    wait_for(lambda: pipeline.fake_time() >= STEP_AT, STEP_AT, "the request-rate step")
    since = wall_clock_of(pipeline, STEP_AT)
    alerts = assert_paged(
        pipeline,
        "PerformanceAnomaly",
        "asset-service",
        "medium",
        since=since,
        labels={"metric": "request_rate", "kind": "anomaly"},
    )
    for service in ("portfolio-service", "transaction-service"):
        alerts += assert_paged(
            pipeline, "PerformanceAnomaly", service, "medium", since=since, labels={"metric": "request_rate"}
        )
    wait_for(lambda: pipeline.fake_time() >= STEP_END, STEP_END, "the end of the step")
    assert_resolved(pipeline, alerts, cleared_at=wall_clock_of(pipeline, STEP_END))


def test_every_link_in_every_delivered_notification_answers_200(pipeline: Pipeline) -> None:
    """Runbooks (the receiver's pages), dashboards (the Grafana stand-in: the rule's dashboard and
    panel exist), graphs (Prometheus), the console and the acknowledge pages, from every channel."""
    found = {
        "slack": [u for r in pipeline.sinks["slack"].received() for u in notification_links.slack(r)],
        "pagerduty": [u for r in pipeline.sinks["pagerduty"].received() for u in notification_links.pagerduty(r)],
        "sms": [u for r in pipeline.sinks["sms"].received() for u in notification_links.sms(r)],
        "email": [u for _, mail in pipeline.mailbox.messages for u in notification_links.email(mail)],
    }
    assert all(found.values()), {channel: len(urls) for channel, urls in found.items()}
    every = [u for urls in found.values() for u in urls]
    statuses = notification_links.follow_all(every)
    assert {url: status for url, status in statuses.items() if status != 200} == {}
    kinds = {
        "acknowledge": f"{pipeline.receiver_url}/console/ack/",
        "runbook": f"{pipeline.receiver_url}/runbooks/",
        "dashboard": f"{pipeline.grafana.url}/d/",
        "graph": f"{pipeline.prometheus_url}/graph?",
        "console": f"{pipeline.receiver_url}/console/alerts/",
    }
    counts = {kind: sum(u.startswith(prefix) for u in statuses) for kind, prefix in kinds.items()}
    assert all(counts.values()), counts
    assert sum(counts.values()) == len(statuses), [u for u in statuses if not u.startswith(tuple(kinds.values()))]
    assert {status for _, status in pipeline.grafana.requests} == {200}
    print(f"followed {len(statuses)} distinct links of {len(every)} in the notifications: {counts}")


def prometheus_value(pipeline: Pipeline, query: str, at: float) -> float:
    params = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    (sample,) = get_json(f"{pipeline.prometheus_url}/api/v1/query?{params}")["data"]["result"]
    return float(sample["value"][1])


def run_window(pipeline: Pipeline) -> backtest.Window:
    """From one evaluation after Prometheus had scraped every target to a moment ago.

    Before that, Prometheus's first evaluations run with targets not yet scraped (``absent(up)``
    fires in Prometheus too) and its notifier has not discovered Alertmanager yet, so what they
    fire is dropped before Alertmanager: no receiver records it (the test checks that nothing
    is dropped inside the window).
    """
    now = time.time()
    params = urllib.parse.urlencode({"query": "up[1h]", "time": f"{now:.3f}"})
    series = get_json(f"{pipeline.prometheus_url}/api/v1/query?{params}")["data"]["result"]
    scraped_all = max(min(float(t) for t, _ in item["values"]) for item in series)
    return backtest.Window(scraped_all + INTERVAL, now - 2.0)


def backtest_run(
    pipeline: Pipeline, window: backtest.Window, rule_files: list[Path], against: list[Path] | None = None
) -> backtest.Backtest:
    with requests.Session() as session:
        history = PrometheusHistory(pipeline.prometheus_url, session)
        setup = history.setup()
        assert setup.evaluation_interval == INTERVAL
        return backtest.run(
            history,
            setup,
            window,
            load_rule_files(rule_files, setup.evaluation_interval),
            load_alertmanager_config(pipeline.workdir / "alertmanager" / "alertmanager.yml"),
            RoutingPolicy(),
            baseline=load_rule_files(against, setup.evaluation_interval) if against else None,
        )


def shipped_rule_files(pipeline: Pipeline) -> list[Path]:
    """The rule files this pipeline's Prometheus runs (the shipped ones, time-compressed)."""
    return sorted((pipeline.workdir / "prometheus" / "rules").glob("*.yml"))


def test_backtesting_the_shipped_rules_over_the_run_reproduces_the_alerts_the_receiver_recorded(
    pipeline: Pipeline,
) -> None:
    """`monitoring rules backtest` over this run: what the receiver recorded, and nothing more.

    Matched on alertname, labels and a start within one evaluation interval; at least 95% of
    the recorded alerts must be matched and no predicted alert may be missing from the history,
    except one whose every notification hinges on a same-instant race (it may go either way); a
    recorded alert only an unsettled race would send counts as matched.
    """
    window = run_window(pipeline)
    dropped = "sum(prometheus_notifications_dropped_total)"
    assert prometheus_value(pipeline, dropped, window.until) == prometheus_value(pipeline, dropped, window.since)
    result = backtest_run(pipeline, window, shipped_rule_files(pipeline))
    settled = window.until - 5.0  # alerts of the last seconds may still be on their way to the receiver
    recorded = [
        (a["labels"], epoch(a["startsAt"]))
        for a in pipeline.history()
        if window.since <= epoch(a["startsAt"]) < settled
    ]
    predicted = [
        (dict(labels), starts_at)
        for labels, starts_at in received(result.candidate.notifications)
        if window.since <= starts_at < settled and not is_watchdog(dict(labels))
    ]

    def paired(one: tuple[dict[str, str], float], others: list[tuple[dict[str, str], float]]) -> bool:
        return any(one[0] == o[0] and abs(one[1] - o[1]) <= INTERVAL for o in others)

    # Sent only in notifications that hinge on a resolution racing a flush at one instant
    # (``Notification.racy``): Alertmanager settles that race either way, so they may be missing.
    settled_only = received([n for n in result.candidate.notifications if not n.racy])
    matched = [r for r in recorded if paired(r, predicted)]
    extra = [p for p in predicted if not paired(p, recorded)]
    racy = [p for p in extra if (tuple(sorted(p[0].items())), p[1]) not in settled_only]
    extra = [p for p in extra if p not in racy]
    # Sent only if such a race went the other way (``RunResult.unsettled``): Alertmanager may have.
    unsettled = [(dict(labels), starts_at) for labels, starts_at in received(result.candidate.unsettled)]
    raced = [r for r in recorded if r not in matched and paired(r, unsettled)]
    matched += raced
    print(
        f"backtest: {len(matched)}/{len(recorded)} recorded alerts matched ({len(raced)} through an unsettled race), "
        f"{len(extra)} extra, {len(racy)} racy {[(p[0].get('alertname'), p[0].get('priority'), p[1]) for p in racy]}"
    )
    assert len(recorded) >= 8, recorded  # the scenarios above paged at least eight alerts
    firings = [(dict(e.labels), e.active_at, e.fired_at, e.resolved_at) for e in result.candidate.episodes]
    assert len(matched) >= 0.95 * len(recorded), (
        f"missed {[r for r in recorded if r not in matched]}\npredicted {predicted}\nbacktest firings {firings}"
    )
    assert extra == [], f"extra firings {extra}\nrecorded {recorded}"


def test_raising_a_threshold_removes_exactly_the_alerts_it_guarded_from_the_backtest_diff(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """The request-rate anomaly's minimum deviation raised far above the step: its alerts, and only they, are gone."""
    window = run_window(pipeline)
    edited = []
    for path in shipped_rule_files(pipeline):
        document = yaml.safe_load(path.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "PerformanceAnomaly" and rule["labels"]["metric"] == "request_rate":
                    old = "service:request_rate:baseline_avg1h) > 1)"
                    assert rule["expr"].count(old) == 1, rule["expr"]
                    rule["expr"] = rule["expr"].replace(old, "service:request_rate:baseline_avg1h) > 1000)")
        (tmp_path / path.name).write_text(yaml.safe_dump(document, sort_keys=False))
        edited.append(tmp_path / path.name)
    result = backtest_run(pipeline, window, edited, against=shipped_rule_files(pipeline))
    assert result.baseline is not None
    guarded = {
        e.labels
        for e in result.baseline.episodes
        if e.alertname == "PerformanceAnomaly" and dict(e.labels)["metric"] == "request_rate"
    }
    recorded = {
        a["labels"]["service"]
        for a in pipeline.history()
        if a["alertname"] == "PerformanceAnomaly" and a["labels"].get("metric") == "request_rate"
    }
    assert {dict(labels)["service"] for labels in guarded} == recorded == set(PLATFORM_SERVICES)
    assert sorted((c.kind, c.labels) for c in result.changes) == sorted(("gone", labels) for labels in guarded)
