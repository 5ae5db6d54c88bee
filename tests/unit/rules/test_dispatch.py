"""Alertmanager routing, grouping timings and inhibition, replayed as Alertmanager 0.25 does them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.rules.alertmanager_config import AlertmanagerConfig, load_alertmanager_config, parse_matchers
from ops.rules.dispatch import Alert, Notification, dispatch

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "alertmanager" / "alertmanager.yml"
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "alertmanager" / "tests" / "routes.yaml").read_text())


@pytest.fixture(scope="module")
def shipped() -> AlertmanagerConfig:
    return load_alertmanager_config(SHIPPED)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_the_shipped_routes_send_each_amtool_case_to_its_receivers(
    shipped: AlertmanagerConfig, case: dict[str, Any]
) -> None:
    assert [r.receiver for r in shipped.route.match(case["labels"])] == case["receivers"]


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ('alertname="Watchdog"', {"alertname": "Watchdog"}, True),
        ('priority=~"critical|high"', {"priority": "high"}, True),
        ('priority=~"critical|high"', {"priority": "highest"}, False),  # anchored
        ('{service="x", kind!~"meta"}', {"service": "x", "kind": "slo"}, True),
        ("service=x", {"service": "x"}, True),
        ('alertname!="ServiceDown"', {}, True),  # a missing label is ""
        ('quote="a\\"b"', {"quote": 'a"b'}, True),
    ],
)
def test_matchers_read_alertmanagers_syntax(text: str, labels: dict[str, str], matches: bool) -> None:
    assert all(m.matches(labels) for m in parse_matchers(text)) is matches


def alert(start: float, end: float | None = None, order: int = 0, /, **labels: str) -> Alert:
    return Alert(tuple(sorted({"alertname": "A", **labels}.items())), start, end, order=order)


CRITICAL = {"priority": "critical", "service": "s"}


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        # group_wait 5s for critical, then nothing new: one notification
        ([alert(100, 250, **CRITICAL)], [(105, 1, 0), (255, 0, 1)]),
        # a second alert of the same group after the first flush waits for the next group_interval (10s) tick
        ([alert(100, None, **CRITICAL), alert(107, None, **CRITICAL, instance="b")], [(105, 1, 0), (115, 2, 0)]),
        # resolved: sent on the next tick; then the group is swept and a new alert waits group_wait again
        ([alert(100, 112, **CRITICAL), alert(200, None, **CRITICAL)], [(105, 1, 0), (115, 0, 1), (205, 1, 0)]),
        # repeat_interval (5m) re-sends an unchanged group on the first tick after it
        ([alert(0, 400, **CRITICAL)], [(5, 1, 0), (315, 1, 0), (405, 0, 1)]),
        # firing for exactly group_wait: its resolution arrives just after the flush its own arrival
        # scheduled (Prometheus sends both the same way), so it is notified, and resolved a tick later
        ([alert(100, 105, **CRITICAL)], [(105, 1, 0), (115, 0, 1)]),
    ],
)
def test_groups_notify_after_group_wait_then_on_group_interval_ticks(
    shipped: AlertmanagerConfig, alerts: list[Alert], expected: list[tuple[float, int, int]]
) -> None:
    notes = dispatch(shipped, alerts, until=max(a.ends_at or 0 for a in alerts) + 60 if len(alerts) == 1 else 300).sent
    assert [(n.at, len(n.firing), len(n.resolved)) for n in notes] == expected
    assert {n.receiver for n in notes} == {"priority-critical"}


def test_a_critical_alert_inhibits_the_high_copy_of_the_same_alert_while_it_fires(shipped: AlertmanagerConfig) -> None:
    high = alert(100, 400, priority="high", service="s")
    critical = alert(100, 300, **CRITICAL)
    notes = dispatch(shipped, [high, critical], until=600).sent
    high_notes = [n for n in notes if n.receiver == "priority-high"]
    # muted until the critical resolves at 300; shown at the next high tick (30s) after that
    assert [(n.at, len(n.firing)) for n in high_notes][:1] == [(310, 1)]


def test_a_first_flush_knows_the_resolutions_earlier_rules_sent_at_its_instant(shipped: AlertmanagerConfig) -> None:
    """Both copies of a rule resolve at 300, the critical one evaluated (and sent) first.

    The high copy's first flush at 300 (its timer ran from its own arrival) finds the critical
    resolved and the high still firing: it is notified, then resolved on the next tick.
    """
    critical = alert(100, 300, 0, **CRITICAL)
    high = alert(270, 300, 1, priority="high", service="s")
    notes = [n for n in dispatch(shipped, [critical, high], until=600).sent if n.receiver == "priority-high"]
    assert [(n.at, len(n.firing), len(n.resolved)) for n in notes] == [(300, 1, 0), (330, 0, 1)]


def test_a_group_interval_tick_knows_every_resolution_of_its_instant(shipped: AlertmanagerConfig) -> None:
    """The same two copies, the high one inhibited through two ticks and resolving on the third: never notified."""
    critical = alert(100, 360, 0, **CRITICAL)
    high = alert(270, 360, 1, priority="high", service="s")
    notes = [n for n in dispatch(shipped, [critical, high], until=600).sent if n.receiver == "priority-high"]
    assert notes == []


@pytest.mark.parametrize(
    ("alerts", "receiver", "expected"),
    [
        # resolved well apart from any flush: every notification is settled
        ([alert(100, 112, **CRITICAL)], "priority-critical", [(105, False), (115, False)]),
        # firing for exactly group_wait: its own resolution races its first flush
        ([alert(100, 105, **CRITICAL)], "priority-critical", [(105, True), (115, False)]),
        # the high copy's first flush and the resolution of the critical copy muting it, one instant
        (
            [alert(100, 300, 0, **CRITICAL), alert(270, 300, 1, priority="high", service="s")],
            "priority-high",
            [(300, True), (330, False)],
        ),
    ],
)
def test_a_notification_that_hinges_on_a_resolution_at_its_own_instant_is_marked_racy(
    shipped: AlertmanagerConfig, alerts: list[Alert], receiver: str, expected: list[tuple[float, bool]]
) -> None:
    """Alertmanager settles a flush and a resolution of one instant either way: the replay says it guessed."""
    notes = [n for n in dispatch(shipped, alerts, until=600).sent if n.receiver == receiver]
    assert [(n.at, n.racy) for n in notes] == expected


@pytest.mark.parametrize(
    ("critical_order", "sent", "unsettled"),
    [
        # the critical copy's rule comes first: its resolution is settled before the high's first
        # flush, which notifies (racy: the other settlement keeps it muted); nothing is left unsettled
        (0, [(300, 1, True)], []),
        # the critical copy's rule comes after the high's: the likely settlement keeps the high copy
        # muted at its first flush and it resolves before the next, so it is never sent; the other
        # settlement would have paged it, and that is where Alertmanager may page it
        (2, [], [(300, 1, True)]),
    ],
)
def test_a_flush_that_only_the_other_settlement_of_its_race_would_send_is_kept_as_unsettled(
    shipped: AlertmanagerConfig,
    critical_order: int,
    sent: list[tuple[float, int, bool]],
    unsettled: list[tuple[float, int, bool]],
) -> None:
    critical = alert(100, 300, critical_order, **CRITICAL)
    high = alert(270, 320, 1, priority="high", service="s")
    result = dispatch(shipped, [critical, high], until=600)

    def firing(notes: list[Notification]) -> list[tuple[float, int, bool]]:
        return [(n.at, len(n.firing), n.racy) for n in notes if n.receiver == "priority-high" and n.firing]

    assert firing(result.sent) == sent
    assert firing(result.unsettled) == unsettled
    assert all(dict(a.labels)["priority"] == "high" for n in result.unsettled for a in n.firing)


def lagging(one: Alert, lag: float) -> Alert:
    return Alert(one.labels, one.starts_at, one.ends_at, order=one.order, lag=lag)


@pytest.mark.parametrize(
    ("critical_end", "high_end", "lag", "sent", "unsettled"),
    [
        # the critical copy resolved 20s before the high's tick at 330: with resolutions known to
        # the instant, the high copy is paged there, settled
        (310, 350, 0, [(330, 1, False)], []),
        # known only to a 30s evaluation: Prometheus may have sent the critical's resolution after
        # that tick, keeping the high copy muted until it resolved too: the page is racy
        (310, 350, 30, [(330, 1, True)], []),
        # the CI run's shape: the lagged resolution lands on the tick itself (330), and that tick may
        # come first; the next tick (360) is after the high copy's own resolution
        (310, 350, 20, [(330, 1, True)], []),
        # both resolved before the tick: nothing to send; had the high's resolution lagged 10s
        # (and the critical's not mattered), Alertmanager would have paged it there: unsettled
        (305, 325, 0, [], []),
        (305, 325, 10, [], [(330, 1, True)]),
    ],
)
def test_a_flush_within_an_evaluation_of_a_resolution_hinges_on_prometheus_lag(
    shipped: AlertmanagerConfig,
    critical_end: float,
    high_end: float,
    lag: float,
    sent: list[tuple[float, int, bool]],
    unsettled: list[tuple[float, int, bool]],
) -> None:
    """A live evaluation may see a scrape one evaluation late: a resolution may reach Alertmanager ``lag`` later."""
    critical = lagging(alert(100, critical_end, 0, **CRITICAL), lag)
    high = lagging(alert(270, high_end, 1, priority="high", service="s"), lag)
    result = dispatch(shipped, [critical, high], until=600)

    def firing(notes: list[Notification]) -> list[tuple[float, int, bool]]:
        return [(n.at, len(n.firing), n.racy) for n in notes if n.receiver == "priority-high" and n.firing]

    assert firing(result.sent) == sent
    assert firing(result.unsettled) == unsettled


def test_service_down_inhibits_the_services_threshold_alerts_but_not_other_services(
    shipped: AlertmanagerConfig,
) -> None:
    down = alert(0, None, alertname="ServiceDown", priority="critical", service="s")
    mine = alert(0, None, alertname="HighLatency", priority="high", service="s", kind="threshold")
    other = alert(0, None, alertname="HighLatency", priority="high", service="t", kind="threshold")
    notes = dispatch(shipped, [down, mine, other], until=100).sent
    notified = {
        dict(a.labels)["service"] for n in notes for a in n.firing if dict(a.labels)["alertname"] == "HighLatency"
    }
    assert notified == {"t"}


def test_a_receiver_alert_pages_pagerduty_directly_and_through_the_webhook(shipped: AlertmanagerConfig) -> None:
    notes = dispatch(shipped, [alert(0, None, priority="critical", service="monitoring-receiver")], until=20).sent
    assert sorted(n.integration for n in notes) == ["pagerduty", "webhook"]
