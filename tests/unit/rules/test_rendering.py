"""What a person reads of a backtest's pages: how many, and how many hinge on a race."""

from __future__ import annotations

import pytest

from ops.rules.backtest import Backtest, RunResult, Window
from ops.rules.receiver_policy import Page
from ops.rules.rendering import summary, text


def backtest(*racy: bool) -> Backtest:
    labels = (("alertname", "A"), ("priority", "high"))
    pages = tuple(Page(100.0 + n, "slack", "trigger", "high", labels, 90.0, "r", flag) for n, flag in enumerate(racy))
    result = RunResult(rules=(), episodes=(), alerts=(), notifications=(), pages=pages, warnings=())
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
