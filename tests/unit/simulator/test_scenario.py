from __future__ import annotations

from pathlib import Path

import pytest

from simulator.profile import ConsumerMode, Malformation
from simulator.runner import Simulation
from simulator.scenario import ScenarioError, Timeline, load_scenario, parse_scenario
from tests.unit.simulator.fakes import FakeClock, MemorySink

SCENARIOS = Path(__file__).parents[3] / "simulator" / "scenarios"

THREE_PHASES = {
    "seed": 1,
    "duration": "9s",
    "profile": {"rate": 20},
    "phases": [
        {"at": 0, "name": "baseline"},
        {"at": "3s", "name": "fault", "faults": {"duplicate": 1.0}},
        {"at": "6s", "name": "recovery"},
    ],
}


def test_durations_in_a_scenario_accept_prometheus_syntax_and_seconds() -> None:
    scenario = parse_scenario({**THREE_PHASES, "profile": {"followup_delay": "250ms"}})
    assert scenario.duration == 9.0
    assert [p.at for p in scenario.phases] == [0.0, 3.0, 6.0]
    assert scenario.profile.followup_delay == 0.25


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"phases": [{"at": 1, "name": "late"}]}, "first phase must start at 0"),
        ({"phases": [{"at": 0, "name": "a"}, {"at": 0, "name": "b"}]}, "strictly increasing"),
        ({"profile": {"rate": -1}}, "$.profile.rate"),
        ({"profile": {"sucess_ratio": 0.5}}, "sucess_ratio"),
        ({"phases": [{"at": 0, "name": "a", "faults": {"duplicate": 2}}]}, "$.phases[0].faults.duplicate"),
        ({"duration": "soon"}, "duration: expected a duration"),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_field(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(raw, "bad.yaml")


def test_the_timeline_gives_the_phase_in_force_at_each_moment() -> None:
    timeline = parse_scenario(THREE_PHASES).timeline
    assert [timeline.at(t).name for t in (0, 2.99, 3, 5.5, 6, 100)] == [
        "baseline",
        "baseline",
        "fault",
        "fault",
        "recovery",
        "recovery",
    ]
    assert Timeline().at(5).name == "baseline"


def test_a_simulation_switches_phases_at_their_times_and_applies_each_phases_faults_only_then() -> None:
    clock = FakeClock()
    simulation = Simulation(parse_scenario(THREE_PHASES), MemorySink(), clock=clock, sleep=clock.sleep)
    truth = simulation.run()

    changes = [(c.phase, c.elapsed) for c in simulation.phase_changes]
    assert [name for name, _ in changes] == ["baseline", "fault", "recovery"]
    for (_, elapsed), start in zip(changes, (0, 3, 6), strict=True):
        assert start <= elapsed < start + 0.1
    assert simulation.steps == pytest.approx(9 * 20, abs=2)
    # duplicate: 1.0 during the fault phase only: every event of those ~60 steps, none other
    assert 60 <= truth.injected["duplicate"] <= 3 * 62


def test_a_simulation_stops_after_its_step_bound() -> None:
    clock = FakeClock()
    sink = MemorySink()
    simulation = Simulation(parse_scenario({"steps": 25}), sink, clock=clock, sleep=clock.sleep)
    simulation.run()
    assert simulation.steps == 25
    assert sink.flushed == 1


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_file_is_valid_and_bounded(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.duration is not None or scenario.steps is not None


def test_the_shipped_scenarios_cover_every_fault() -> None:
    faults = [p.faults for path in SCENARIOS.glob("*.yaml") for p in load_scenario(path).phases]
    assert any(f.downstream_delay > 0 for f in faults)
    for name in ("drop_followup", "duplicate", "out_of_order", "version_gap", "malformed", "failure_burst"):
        assert any(getattr(f, name) > 0 for f in faults), name
    assert {k for f in faults if f.malformed > 0 for k in f.malformed_kinds} == set(Malformation)
    assert {f.consumer for f in faults} == set(ConsumerMode)


def test_an_unreadable_scenario_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("phases: [unclosed")
    with pytest.raises(ScenarioError, match=r"broken\.yaml"):
        load_scenario(path)


def test_a_simulation_with_the_same_scenario_and_clock_sends_the_same_records() -> None:
    def run() -> list[object]:
        clock = FakeClock()
        sink = MemorySink()
        scenario = parse_scenario({**THREE_PHASES, "phases": [*THREE_PHASES["phases"][:2]]})  # type: ignore[index]
        Simulation(scenario, sink, clock=clock, sleep=clock.sleep).run()
        return list(sink.records)

    first = run()
    assert len(first) > 100
    assert first == run()
