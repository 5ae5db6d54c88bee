"""The simulator against real Kafka: the report is the truth, and each fault is exactly what it claims."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitoring.catalogue import PLATFORM_EVENTS
from simulator.generator import topics_for
from simulator.kafka_sink import KafkaRecordSink
from simulator.report import GroundTruth
from simulator.runner import Simulation
from simulator.scenario import Scenario, parse_scenario
from tests.integration.simulator.readback import Observed, observe, read_all
from tests.unit.simulator.fakes import START, FakeClock


def simulate(brokers: str, prefix: str, scenario: Scenario) -> tuple[GroundTruth, Observed, int]:
    truth = GroundTruth()
    clock = FakeClock()
    topics = topics_for(prefix)
    simulation = Simulation(
        scenario, KafkaRecordSink(brokers, truth), topics=topics, truth=truth, clock=clock, sleep=clock.sleep
    )
    simulation.run()
    report = truth.as_dict()
    expected = sum(report["records_by_topic"].values())
    records = read_all(brokers, sorted(topics.values()), expected)
    return truth, observe(records), len(records)


def test_the_ground_truth_report_matches_what_a_plain_consumer_reads_back(
    kafka_brokers: str, topic_prefix: str
) -> None:
    scenario = parse_scenario({"seed": 11, "steps": 600, "profile": {"rate": 200, "followup_delay": "300ms"}})
    truth, observed, read = simulate(kafka_brokers, topic_prefix, scenario)
    report = truth.as_dict()

    assert read == sum(report["records_by_topic"].values())
    assert report["delivery_failures"] == 0
    assert observed.decode_failures == {}
    assert observed.duplicates() == set()
    assert observed.version_anomalies() == (set(), set())
    assert observed.missing_followups() == set()
    assert dict(observed.events_by_type()) == report["events_by_type"]
    assert set(report["events_by_type"]) == set(PLATFORM_EVENTS)
    assert observed.transactions() == report["transactions_by_type_and_status"]
    amounts = report["amount_sum_by_status_and_currency"]
    assert observed.amounts().keys() == amounts.keys()
    for status, by_currency in observed.amounts().items():
        assert by_currency == pytest.approx(amounts[status], abs=0.011)
    processing = [p.processing_seconds for p in observed.payloads("TransactionCompleted")]
    assert len(processing) == report["processing_seconds"]["count"]
    assert sum(processing) == pytest.approx(report["processing_seconds"]["sum"])
    assert report["processing_seconds"]["buckets"]["0.25"] == sum(1 for p in processing if p <= 0.25)
    delays = observed.followup_delays()
    assert len(delays) == report["followup_delay_seconds"]["count"]
    assert {round(d, 3) for d in delays.values()} == {0.3}
    modes = {"structured": 0, "binary": 0}
    for record, _, _ in observed.events:
        modes["binary" if any(k == "ce_id" for k, _ in record.headers) else "structured"] += 1
    assert modes == report["content_modes"]


def test_each_injected_fault_produces_exactly_the_anomalies_it_claims(kafka_brokers: str, topic_prefix: str) -> None:
    faults = {
        "downstream_delay": "2s",
        "drop_followup": 0.2,
        "duplicate": 0.05,
        "out_of_order": 0.05,
        "version_gap": 0.05,
        "malformed": 0.05,
        "failure_burst": 0.3,
    }
    scenario = parse_scenario(
        {
            "seed": 5,
            "duration": "6s",
            "profile": {"rate": 100, "followup_delay": "200ms"},
            "phases": [
                {"at": 0, "name": "baseline"},
                {"at": "2s", "name": "fault", "faults": faults},
                {"at": "4s", "name": "recovery"},
            ],
        }
    )
    truth, observed, _ = simulate(kafka_brokers, topic_prefix, scenario)
    report = truth.as_dict()
    claimed = {kind: set(ids) for kind, ids in report["injected_examples"].items()}
    injected = report["injected"]
    assert all(
        injected[k] > 0 for k in ("duplicate", "out_of_order", "version_gap", "missing_followup", "failure_burst")
    )

    assert observed.duplicates() == claimed["duplicate"]
    swapped, gapped = observed.version_anomalies()
    assert swapped == claimed["out_of_order"]
    assert {f"{aggregate}@2" for aggregate in gapped} == claimed["version_gap"]
    assert observed.missing_followups() == claimed["missing_followup"]
    bursts = {p.transaction_id for p in observed.payloads("TransactionFailed") if p.reason == "upstream_unavailable"}
    assert bursts == claimed["failure_burst"]
    delays = {cid: round(delay, 3) for cid, delay in observed.followup_delays().items()}
    assert {cid for cid, delay in delays.items() if delay == 2.2} == claimed["downstream_delay"]
    assert set(delays.values()) == {0.2, 2.2}
    for kind in ("invalid_json", "missing_attribute", "wrong_type", "oversized"):
        assert injected[f"malformed_{kind}"] > 0
        assert observed.decode_failures[kind] == injected.get(f"malformed_{kind}", 0)
        assert observed.malformed_keys[kind] == claimed.get(f"malformed_{kind}", set())
    assert sum(observed.decode_failures.values()) == sum(v for k, v in injected.items() if k.startswith("malformed_"))
    assert sum(observed.decode_failures.values()) > 0

    # Every anomaly comes from the fault phase, by the events' own time.
    window = (datetime.fromtimestamp(START + 2, UTC), datetime.fromtimestamp(START + 4 + 0.02, UTC))
    anomalous = (
        claimed["out_of_order"] | {g.rsplit("@", 1)[0] for g in claimed["version_gap"]} | claimed["failure_burst"]
    )
    times = [e.time for _, e, _ in observed.events if e.aggregateid in anomalous]
    times += [e.time for _, e, _ in observed.events if e.id in claimed["duplicate"]]
    times += [
        e.time
        for _, e, _ in observed.events
        if e.type == "TransactionCompleted" and e.correlationid in claimed["missing_followup"]
    ]
    assert times
    assert all(window[0] <= t < window[1] for t in times)
