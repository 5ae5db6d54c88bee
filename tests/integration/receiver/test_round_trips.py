"""Recording a webhook on PostgreSQL waits for the server twice with incidents off, whatever the webhook
holds; with incidents on, two to four times (docs/receiver.md, "Incidents")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import Observation
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver.test_history_contract import NOW, obs
from tests.integration.receiver.test_incident_contract import RULES
from tests.integration.receiver.test_incident_contract import obs as incident_obs
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


# --- incidents on (RECEIVER_TOPOLOGY_FILE): the component's lock travels with the intake statement;
# reading the incidents after the alerts' changes is one more round trip, and opening one (its id
# is needed for its pages) or resolving one (the channels its family paged) one more again.


@pytest.fixture
def traced_incidents(postgres_uri: str) -> Iterator[tuple[TracedDatabase, SqlAlertHistory]]:
    database = TracedDatabase(postgres_uri)
    history = SqlAlertHistory(database, SqlEventOutbox(database, lambda: NOW), correlator=RULES)
    history.migrate()
    yield database, history
    database.close()


def on_parts(tag: str, services: tuple[str, ...], **overrides: object) -> list[Observation]:
    return [
        replace(incident_obs(f"Alert{tag}{n}", services[n % len(services)], n + 100 * len(tag)), **overrides)  # type: ignore[arg-type]
        for n in range(ALERTS)
    ]


SERVICES = ("asset-service", "portfolio-service", "transaction-service")
ASSET = ("asset-service",)
# (what the history already holds, the webhook, incidents opened and joined, round trips)
INCIDENT_CASES: list[tuple[str, list[Observation], list[Observation], tuple[int, int], int]] = [
    ("ten new alerts on three services: an incident each", [], on_parts("A", SERVICES), (3, 7), 4),
    ("ten new alerts joining an open incident", on_parts("B", ASSET)[:1], on_parts("B", ASSET), (0, 9), 3),
    ("ten known alerts unchanged (a repeat)", on_parts("C", SERVICES), on_parts("C", SERVICES), (0, 0), 2),
    (
        "ten known alerts resolved: their incidents resolve",
        on_parts("D", SERVICES),
        on_parts("D", SERVICES, status="resolved"),
        (0, 0),
        4,
    ),
    ("ten new alerts whose labels match no part: ten incidents", [], on_parts("E", ("no-such-service",)), (10, 0), 4),
]


@pytest.mark.parametrize(
    ("known", "webhook", "incidents", "expected"),
    [c[1:] for c in INCIDENT_CASES],
    ids=[c[0] for c in INCIDENT_CASES],
)
def test_recording_a_webhook_with_incidents_on_takes_two_to_four_round_trips(
    traced_incidents: tuple[TracedDatabase, SqlAlertHistory],
    known: list[Observation],
    webhook: list[Observation],
    incidents: tuple[int, int],
    expected: int,
) -> None:
    database, history = traced_incidents
    if known:
        history.record(known, NOW)
    with database.counting() as counted:
        outcome = history.record(webhook, NOW + 60)
    assert (outcome.incidents_opened, outcome.incidents_joined) == incidents
    assert counted == [expected]
