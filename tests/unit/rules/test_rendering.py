"""What a person reads of a backtest's pages: how many, how many hinge on a race, and how many more a race could add."""

from __future__ import annotations

import pytest

from ops.rules.backtest import Backtest, RunResult, Window
from ops.rules.dispatch import Alert, Notification
from ops.rules.receiver_policy import Page
from ops.rules.rendering import summary, text


def backtest(*racy: bool, unsettled: int = 0) -> Backtest:
    labels = (("alertname", "A"), ("priority", "high"))
    pages = tuple(Page(100.0 + n, "slack", "trigger", "high", labels, 90.0, "r", flag) for n, flag in enumerate(racy))
    alert = Alert(labels, 90.0, 110.0)
    maybe = tuple(
        Notification(100.0, "priority-high", "webhook", "/0", (), (alert,), (), True) for _ in range(unsettled)
    )
    result = RunResult(rules=(), episodes=(), alerts=(), notifications=(), pages=pages, warnings=(), unsettled=maybe)
    return Backtest(Window(0.0, 3600.0), "http://prometheus", result, None, (), 0.0, 0.0, 0, 0)


@pytest.mark.parametrize(
    ("racy", "line"),
    [
        ((False, False), "Pages: 2"),
        (
            (False, True),
            "Pages: 2 (1 at an instant where a resolution races Alertmanager's flush: may or may not be sent)",
        ),
    ],
)
def test_the_pages_line_says_how_many_pages_hinge_on_a_race(racy: tuple[bool, ...], line: str) -> None:
    run = backtest(*racy)
    assert line in text(run, None).splitlines()
    assert summary(run)["pages"]["racy"] == sum(racy)


@pytest.mark.parametrize(("unsettled", "suffix"), [(0, ""), (2, "; 2 more notification(s) Alertmanager may send")])
def test_the_pages_line_says_how_many_more_notifications_a_race_the_other_way_would_send(
    unsettled: int, suffix: str
) -> None:
    run = backtest(False, unsettled=unsettled)
    [line] = [line for line in text(run, None).splitlines() if line.startswith("Pages:")]
    assert line.startswith("Pages: 1" + suffix)
    assert ("may send" in line) is bool(unsettled)
    assert summary(run)["pages"] == {
        "total": 1,
        "by_priority": {"high": {"slack": 1}},
        "racy": 0,
        "unsettled": unsettled,
    }
