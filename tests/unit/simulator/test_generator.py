from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import msgspec

from monitoring.catalogue import PLATFORM_EVENTS
from monitoring.cloudevents import decode, decode_data
from simulator.generator import EventGenerator, OutRecord, topics_for
from simulator.platform import PlatformModel
from simulator.profile import NO_FAULTS, Faults, Mix, Profile
from simulator.report import GroundTruth
from tests.unit.simulator.fakes import START


def generate(
    seed: int, steps: int = 300, profile: Profile | None = None, faults: Faults = NO_FAULTS
) -> list[OutRecord]:
    generator = EventGenerator(profile or Profile(), seed, GroundTruth(), topics_for())
    records: list[OutRecord] = []
    for i in range(steps):
        records += generator.step(START + i * 0.01, faults)
        records += generator.due(START + i * 0.01)
    return records + generator.due(START + 3600)


def test_the_same_seed_gives_the_same_records() -> None:
    assert generate(3) == generate(3)


def test_another_seed_gives_other_records() -> None:
    assert generate(3) != generate(4)


def test_faults_do_not_change_what_the_platform_does_apart_from_the_fault() -> None:
    plain = generate(9)
    with_malformed = [r for r in generate(9, faults=Faults(malformed=0.2)) if not r.key.startswith(b"malformed-")]
    assert with_malformed == plain


def test_every_platform_event_type_is_produced_and_decodes_in_both_content_modes() -> None:
    records = generate(1, steps=500)
    events = [decode(r.value, r.headers) for r in records]
    for event in events:
        decode_data(event)
    assert {e.type for e in events} == set(PLATFORM_EVENTS)
    modes = Counter("binary" if any(k == "ce_id" for k, _ in r.headers) else "structured" for r in records)
    assert modes["binary"] > 0
    assert modes["structured"] > 0


def test_records_go_to_the_publishing_services_topic_keyed_by_aggregate() -> None:
    for record in generate(2):
        event = decode(record.value, record.headers)
        assert record.topic == f"{event.source.removesuffix('-service')}.events"
        assert record.key == (event.aggregateid or "").encode()


def test_a_completed_transaction_is_followed_by_a_portfolio_event_with_its_correlation_id_after_the_delay() -> None:
    events = [decode(r.value, r.headers) for r in generate(4, profile=Profile(followup_delay=0.5))]
    completed = {e.correlationid: e.time for e in events if e.type == "TransactionCompleted"}
    followups = {
        e.correlationid: e.time for e in events if e.type in ("PortfolioRebalanced", "PortfolioPerformanceUpdated")
    }
    assert completed.keys() == followups.keys()
    assert {(followups[cid] - t).total_seconds() for cid, t in completed.items()} == {0.5}


def test_a_mix_of_only_transactions_that_all_fail_gives_no_followups() -> None:
    profile = Profile(mix=Mix(asset_created=0, asset_modified=0, asset_valuation=0, goal_progress=0), success_ratio=0)
    types = Counter(decode(r.value, r.headers).type for r in generate(5, steps=100, profile=profile))
    assert types == {"TransactionInitiated": 100, "TransactionFailed": 100}


def test_value_distributions_follow_the_profile() -> None:
    profile = msgspec.convert(
        {"currencies": {"JPY": 1}, "transaction_types": {"dividend": 1}, "amount_mu": 2.0, "amount_sigma": 0.0},
        Profile,
    )
    for record in generate(6, steps=100, profile=profile):
        event = decode(record.value, record.headers)
        if event.type == "TransactionInitiated":
            data = msgspec.json.decode(bytes(event.data))
            assert (data["currency"], data["transaction_type"], data["amount"]) == ("JPY", "dividend", 7.39)


def test_the_ground_truth_counts_each_record_handed_out() -> None:
    truth = GroundTruth()
    generator = EventGenerator(Profile(), 8, truth, topics_for())
    records = [r for i in range(200) for r in generator.step(START + i, Faults(duplicate=0.1, malformed=0.1))]
    records += generator.due(START + 10_000)
    report = truth.as_dict()
    assert sum(report["records_by_topic"].values()) == len(records)
    assert report["events_total"] == len({decode(r.value, r.headers).id for r in records if not r.key.startswith(b"m")})


def test_the_exporters_platform_model_keeps_its_deterministic_events() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = list(PlatformModel(seed=1, success_ratio=0.9).events(50, start))
    assert first == list(PlatformModel(seed=1, success_ratio=0.9).events(50, start))
    assert first[0].aggregateversion == 1
