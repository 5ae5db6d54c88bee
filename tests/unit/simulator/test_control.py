from __future__ import annotations

from monitoring.cloudevents import decode
from simulator.control import create_control_app
from simulator.runner import Simulation
from simulator.scenario import parse_scenario
from tests.unit.simulator.fakes import START, FakeClock, MemorySink


def test_faults_switched_through_the_control_endpoint_apply_from_that_moment_until_cleared() -> None:
    actions = {2.0: ("put", {"version_gap": 1.0}), 4.0: ("delete", None)}
    done: set[float] = set()

    def on_sleep(elapsed: float) -> None:
        for at, (method, body) in actions.items():
            if elapsed >= at and at not in done:
                done.add(at)
                response = client.put("/faults", json=body) if method == "put" else client.delete("/faults")
                assert response.status_code == 200

    clock = FakeClock(on_sleep)
    scenario = parse_scenario({"seed": 2, "duration": "6s", "profile": {"rate": 50}})
    sink = MemorySink()
    simulation = Simulation(scenario, sink, clock=clock, sleep=clock.sleep)
    client = create_control_app(simulation).test_client()
    truth = simulation.run()

    assert done == {2.0, 4.0}
    events = [decode(r.value, r.headers) for r in sink.records]
    gapped = {e.aggregateid for e in events if e.aggregateversion == 3 and e.type.startswith("Transaction")}
    assert {f"{a}@2" for a in gapped} == set(truth.examples["version_gap"])
    times = [e.time.timestamp() - START for e in events if e.aggregateid in gapped]
    assert times
    assert all(2.0 <= t < 4.02 for t in times)
    transactions_in_window = {
        e.aggregateid for e in events if e.type == "TransactionInitiated" and 2.02 <= e.time.timestamp() - START < 4
    }
    assert transactions_in_window <= gapped
    assert client.get("/faults").get_json()["override"] is None
    assert client.get("/report").get_json()["injected"] == {"version_gap": len(gapped)}


def test_the_control_endpoint_shows_the_phase_and_effective_faults() -> None:
    scenario = parse_scenario({"steps": 1, "phases": [{"at": 0, "name": "baseline", "faults": {"duplicate": 0.5}}]})
    simulation = Simulation(scenario, MemorySink())
    client = create_control_app(simulation).test_client()
    body = client.get("/faults").get_json()
    assert body["phase"] == "baseline"
    assert body["override"] is None
    assert body["effective"]["duplicate"] == 0.5

    assert client.put("/faults", json={"consumer": "stall"}).status_code == 200
    assert simulation.switch.effective(scenario.phases[0].faults).consumer == "stall"


def test_a_bad_fault_request_is_refused_with_400_naming_the_field() -> None:
    client = create_control_app(Simulation(parse_scenario({"steps": 1}), MemorySink())).test_client()
    response = client.put("/faults", json={"duplicate": "lots"})
    assert response.status_code == 400
    assert "$.duplicate" in response.get_json()["error"]
    assert client.put("/faults", json={"nonsense": 1}).status_code == 400
    assert client.get("/faults").get_json()["override"] is None
