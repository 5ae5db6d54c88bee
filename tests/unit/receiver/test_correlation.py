"""The correlation rules, table-driven: which incident each firing alert joins, opens, reopens or merges.

The topology of these cases::

    kafka <- topic <- asset-service -> postgres <- billing
                   <- portfolio-service
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from receiver.config.topology import CorrelationRules, Part, Topology, parse_selector
from receiver.intake.correlation import IncidentRules
from receiver.store.incidents import Arrival, Departure, IncidentState, Member, Plan

NOW = 1_800_000_000.0
WINDOW, COOLDOWN = 300.0, 300.0
PARTS = (
    Part("kafka"),
    Part("postgres"),
    Part("topic", ("kafka",)),
    Part("asset-service", ("topic", "postgres")),
    Part("portfolio-service", ("topic",)),
    Part("billing", ("postgres",)),
)


def rules(**toggles: bool) -> IncidentRules:
    return IncidentRules(Topology(PARTS, CorrelationRules(**toggles)), WINDOW, COOLDOWN)


def arrival(alert_id: int, part: str | None, priority: str = "critical") -> Arrival:
    component = "kafka" if part is not None else f"alert:fp{alert_id}"
    return Arrival(alert_id, f"fp{alert_id}", part, component, priority)


@dataclass
class Given:
    """An incident in the store: ``members`` are (alert, part, firing, seconds ago it last changed)."""

    id: int
    members: list[tuple[int, str | None, bool, float]]
    opened_ago: float = 60.0
    resolved_ago: float | None = None
    priority: str = "critical"
    cause: int | None = None  # defaults to the first member
    component: str = "kafka"
    extra: dict[str, Any] = field(default_factory=dict)

    def state(self) -> IncidentState:
        cause = self.cause if self.cause is not None else self.members[0][0]
        cause_part = next(m[1] for m in self.members if m[0] == cause)
        return IncidentState(
            id=self.id,
            component=self.component,
            status="open" if self.resolved_ago is None else "resolved",
            opened_at=NOW - self.opened_ago,
            resolved_at=None if self.resolved_ago is None else NOW - self.resolved_ago,
            cause_alert_id=cause,
            cause_part=cause_part,
            priority=self.priority,
            members=tuple(Member(a, f"fp{a}", p, "critical", firing, NOW - ago) for a, p, firing, ago in self.members),
        )


def summary(plan: Plan) -> dict[str, Any]:
    """The plan in a form the table can spell: new incidents by their cause alert."""
    by_ref = {o.ref: f"new({o.cause.alert_id})" for o in plan.opened}
    out: dict[str, Any] = {}
    if plan.opened:
        out["opened"] = [o.cause.alert_id for o in plan.opened]
    if plan.joined:
        out["joined"] = [
            (j.alert.alert_id, by_ref.get(j.incident, j.incident), j.rule, j.escalates) for j in plan.joined
        ]
    if plan.merged:
        out["merged"] = [(m.incident, m.into) for m in plan.merged]
    if plan.reopened:
        out["reopened"] = plan.reopened
    if plan.resolved:
        out["resolved"] = plan.resolved
    if plan.causes:
        out["causes"] = plan.causes
    if plan.priorities:
        out["priorities"] = plan.priorities
    return out


CASES: list[tuple[str, list[Given], list[Arrival], list[Departure], dict[str, Any], dict[str, bool]]] = [
    (
        "an alert on the same part as a firing one joins its incident",
        [Given(1, [(10, "asset-service", True, 30)])],
        [arrival(11, "asset-service")],
        [],
        {"joined": [(11, 1, "same_part", False)]},
        {},
    ),
    (
        "the same part joins while its alert resolved less than the window ago",
        [Given(1, [(10, "asset-service", False, WINDOW - 1), (12, "portfolio-service", True, 5)], cause=10)],
        [arrival(11, "asset-service")],
        [],
        {"joined": [(11, 1, "same_part", False)]},
        {},
    ),
    (
        "the same part's alert resolved longer than the window ago: a new incident",
        [Given(1, [(10, "asset-service", False, WINDOW + 1), (12, "portfolio-service", True, 5)], opened_ago=900)],
        [arrival(11, "asset-service")],
        [],
        {"opened": [11]},
        {},
    ),
    (
        "an alert whose part depends (transitively) on an open incident's part joins it as a symptom",
        [Given(1, [(10, "kafka", True, 30)])],
        [arrival(11, "asset-service", "high")],
        [],
        {"joined": [(11, 1, "dependency", False)]},
        {},
    ),
    (
        "a dependency whose alert arrives after its dependents' merges their incidents and becomes the cause",
        [
            Given(1, [(10, "asset-service", True, 20)], opened_ago=20),
            Given(2, [(20, "portfolio-service", True, 9)], opened_ago=9),
        ],
        [arrival(30, "kafka")],
        [],
        {"joined": [(30, 1, "late_upstream", False)], "merged": [(2, 1)], "causes": {1: 30}},
        {},
    ),
    (
        "a dependent's incident opened longer than the window ago is not merged",
        [Given(1, [(10, "asset-service", True, 900)], opened_ago=900)],
        [arrival(30, "kafka")],
        [],
        {"opened": [30]},
        {},
    ),
    (
        "an alert on an unrelated part opens its own incident",
        [Given(1, [(10, "asset-service", True, 20)])],
        [arrival(11, "billing")],
        [],
        {"opened": [11]},
        {},
    ),
    (
        "two faults on unrelated parts at once are two incidents",
        [],
        [arrival(10, "asset-service"), arrival(11, "billing")],
        [],
        {"opened": [11, 10]},  # the part with fewer dependencies first
        {},
    ),
    (
        "siblings that share a dependency but not its alert stay apart",
        [Given(1, [(10, "asset-service", True, 20)])],
        [arrival(11, "portfolio-service")],
        [],
        {"opened": [11]},
        {},
    ),
    (
        "a cause and its symptoms in one webhook are one incident, the cause taken first",
        [],
        [arrival(10, "asset-service"), arrival(11, "portfolio-service"), arrival(12, "kafka", "high")],
        [],
        {
            "opened": [12],
            "joined": [(11, "new(12)", "dependency", True), (10, "new(12)", "dependency", False)],
            "priorities": {-1: "critical"},
        },
        {},
    ),
    (
        "alerts whose labels match no part are each their own incident",
        [Given(1, [(10, None, True, 20)], component="alert:fp10")],
        [arrival(11, None), arrival(12, None)],
        [],
        {"opened": [11, 12]},
        {},
    ),
    (
        "an alert firing again within the cool-down reopens its resolved incident",
        [Given(1, [(10, "asset-service", False, 60)], resolved_ago=60)],
        [arrival(11, "asset-service")],
        [],
        {"reopened": [1], "joined": [(11, 1, "reopened", False)]},
        {},
    ),
    (
        "a symptom firing within the cool-down after its cause's incident resolved reopens it",
        [Given(1, [(10, "kafka", False, 60)], resolved_ago=60)],
        [arrival(11, "asset-service", "high")],
        [],
        {"reopened": [1], "joined": [(11, 1, "reopened", False)]},
        {},
    ),
    (
        "after the cool-down the same alert opens a new incident",
        [Given(1, [(10, "asset-service", False, COOLDOWN + 1)], resolved_ago=COOLDOWN + 1)],
        [arrival(11, "asset-service")],
        [],
        {"opened": [11]},
        {},
    ),
    (
        "an unmatched alert firing again within the cool-down reopens its own incident",
        [Given(1, [(10, None, False, 30)], resolved_ago=30, component="alert:fp11")],
        [arrival(11, None)],
        [],
        {"reopened": [1], "joined": [(11, 1, "reopened", False)]},
        {},
    ),
    (
        "a higher priority joining escalates the incident; a lower one does not",
        [Given(1, [(10, "asset-service", True, 30)], priority="high")],
        [arrival(11, "asset-service", "critical"), arrival(12, "asset-service", "medium")],
        [],
        {"joined": [(11, 1, "same_part", True), (12, 1, "same_part", False)], "priorities": {1: "critical"}},
        {},
    ),
    (
        "an incident resolves when its last alert resolves, not before",
        [
            Given(1, [(10, "asset-service", True, 30), (11, "asset-service", True, 20)]),
            Given(2, [(20, "billing", True, 30), (21, "billing", True, 20)]),
        ],
        [],
        [Departure(10, 1), Departure(11, 1), Departure(20, 2)],
        {"resolved": [1]},
        {},
    ),
    (
        "an alert resolving in an incident merged in this webhook resolves the incident it went to",
        [
            Given(1, [(10, "asset-service", True, 20)], opened_ago=20),
            Given(2, [(20, "portfolio-service", True, 9)], opened_ago=9),
        ],
        [arrival(30, "kafka")],
        [Departure(20, 2)],
        {"joined": [(30, 1, "late_upstream", False)], "merged": [(2, 1)], "causes": {1: 30}},
        {},
    ),
    (
        "with the dependency rule off, a symptom opens its own incident",
        [Given(1, [(10, "kafka", True, 30)])],
        [arrival(11, "asset-service")],
        [],
        {"opened": [11]},
        {"dependencies": False, "late_upstream": False},
    ),
    (
        "with the same-part rule off, each alert on a part is its own incident",
        [Given(1, [(10, "asset-service", True, 30)])],
        [arrival(11, "asset-service")],
        [],
        {"opened": [11]},
        {"same_part": False},
    ),
    (
        "with the late-upstream rule off, a late dependency opens its own incident",
        [Given(1, [(10, "asset-service", True, 20)], opened_ago=20)],
        [arrival(30, "kafka")],
        [],
        {"opened": [30]},
        {"late_upstream": False},
    ),
]


@pytest.mark.parametrize(
    ("incidents", "arrivals", "departures", "expected", "toggles"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_correlation(
    incidents: list[Given],
    arrivals: list[Arrival],
    departures: list[Departure],
    expected: dict[str, Any],
    toggles: dict[str, bool],
) -> None:
    plan = rules(**toggles).plan([i.state() for i in incidents], arrivals, departures, NOW)
    assert summary(plan) == expected


def test_an_alert_is_placed_by_its_labels_and_an_unmatched_one_is_a_component_of_its_own() -> None:
    topology = Topology(
        (
            Part("kafka", (), (parse_selector('alertname="KafkaDown"'),)),
            Part("asset-service", ("kafka",), (parse_selector('service="asset-service"'),)),
            Part("host", (), (parse_selector('service="node"'),)),
        )
    )
    incident_rules = IncidentRules(topology, WINDOW, COOLDOWN)
    assert incident_rules.place({"service": "asset-service"}, "abc") == ("asset-service", "kafka")
    assert incident_rules.place({"service": "node"}, "abc") == ("host", "host")
    assert incident_rules.place({"service": "payments"}, "abc") == (None, "alert:abc")
