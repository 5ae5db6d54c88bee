"""Recording a webhook on PostgreSQL waits for the server twice, whatever the webhook holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver.test_history_contract import NOW, obs
from tests.round_trips import TracedDatabase, round_trips

ALERTS = 10


def group(tag: str, **overrides: object) -> list[Observation]:
    return [replace(obs(f"{tag}{n}"), **overrides) for n in range(ALERTS)]  # type: ignore[arg-type]


@pytest.fixture
def traced(postgres_uri: str) -> Iterator[tuple[TracedDatabase, SqlAlertHistory]]:
    database = TracedDatabase(postgres_uri)
    history = SqlAlertHistory(database, SqlEventOutbox(database, lambda: NOW))
    history.migrate()
    yield database, history
    database.close()


# (what the history already holds, the webhook, new and updated alerts in it)
CASES: list[tuple[str, list[Observation], list[Observation], int]] = [
    ("ten new alerts", [], group("New"), 10),
    ("ten known alerts unchanged (a repeat)", group("Rep"), group("Rep"), 0),
    ("ten known alerts resolved", group("Res"), group("Res", status="resolved"), 0),
    ("ten known alerts changed", group("Chg"), group("Chg", content_hash="h2"), 0),
    (
        "five known alerts resolved and five new ones",
        group("Mix")[:5],
        [*group("Mix", status="resolved")[:5], *group("Mix")[5:]],
        5,
    ),
]


@pytest.mark.parametrize(("known", "webhook", "new"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_recording_a_webhook_takes_two_round_trips(
    traced: tuple[TracedDatabase, SqlAlertHistory], known: list[Observation], webhook: list[Observation], new: int
) -> None:
    database, history = traced
    if known:
        history.record(known, NOW)
    with database.counting() as counted:
        outcome = history.record(webhook, NOW + 60)
    assert (outcome.new, outcome.updated) == (new, ALERTS - new)
    assert counted == [2]


def test_the_count_is_of_flights_not_statements() -> None:
    trace = "\n".join(
        [
            "F\t10\tParse\t ...",
            "F\t4\tExecute",
            "F\t4\tFlush",
            "B\t4\tParseComplete",
            "B\t5\tReadyForQuery",
            "F\t4\tSync",
            "B\t5\tReadyForQuery",
        ]
    )
    assert round_trips(trace) == 2
