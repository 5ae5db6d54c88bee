"""Injected faults yield exactly the expected violations; follow-ups match, time out and stay bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from exporter.consistency import ConsistencyProcessor, EventPattern, FollowupRule, load_rules
from exporter.metrics import ConsistencyMetrics
from exporter.records import Record
from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, encode_binary, encode_structured, new_event
from monitoring.settings import ConfigError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULE = FollowupRule(
    name="txn",
    cause=EventPattern("TransactionCompleted", "transaction-service"),
    followup=EventPattern("PortfolioPerformanceUpdated", "portfolio-service"),
    within="30s",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def asset(version: int, *, aggregate: str = "a-1", event_id: str | None = None) -> CloudEvent:
    data = c.AssetModified(asset_id=aggregate, asset_class=c.AssetClass.BOND, changed_fields=["name"])
    return new_event(
        id=event_id or f"{aggregate}-v{version}",
        type="AssetModified",
        source="asset-service",
        time=T0,
        data=data,
        aggregateid=aggregate,
        aggregateversion=version,
    )


def completed(correlation: str, at: datetime = T0) -> CloudEvent:
    data = c.TransactionCompleted(
        transaction_id="t",
        portfolio_id="p",
        transaction_type=c.TransactionType.BUY,
        amount=1.0,
        currency="EUR",
        processing_seconds=0.1,
    )
    return new_event(
        id=f"c-{correlation}", type="TransactionCompleted", source="transaction-service", time=at, data=data,
        correlationid=correlation,
    )  # fmt: skip


def updated(correlation: str, at: datetime) -> CloudEvent:
    data = c.PortfolioPerformanceUpdated(portfolio_id="p", return_ratio=0.01, period="1d")
    return new_event(
        id=f"u-{correlation}", type="PortfolioPerformanceUpdated", source="portfolio-service", time=at, data=data,
        correlationid=correlation,
    )  # fmt: skip


class Harness:
    def __init__(self, capacity: int = 100) -> None:
        self.registry = CollectorRegistry()
        self.clock = Clock()
        self.checker = ConsistencyProcessor(ConsistencyMetrics(self.registry), [RULE], capacity, self.clock)
        self.offset = 0

    def feed(self, *events: CloudEvent) -> None:
        for event in events:
            value, headers = (encode_binary if self.offset % 2 else encode_structured)(event)
            self.checker.process(Record("t", 0, self.offset, value, headers))
            self.offset += 1

    def violations(self, kind: str, source: str = "asset-service") -> float:
        return (
            self.registry.get_sample_value("monitoring_consistency_violations_total", {"kind": kind, "source": source})
            or 0.0
        )

    def sample(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([1, 2, 3, 4], {}),
        ([1, 2, 4, 5], {"version_gap": 1}),
        ([1, 3, 2, 4], {"version_gap": 1, "out_of_order": 1}),
        ([1, 2, 3, 2], {"out_of_order": 1}),
        ([1, 5, 9], {"version_gap": 2}),
    ],
)
def test_each_injected_sequence_fault_yields_exactly_the_expected_violations(
    versions: list[int], expected: dict[str, int]
) -> None:
    harness = Harness()
    harness.feed(*(asset(v, event_id=f"event-{i}") for i, v in enumerate(versions)))
    for kind in ("version_gap", "out_of_order", "duplicate"):
        assert harness.violations(kind) == expected.get(kind, 0), kind


def test_the_same_version_under_a_new_id_is_a_duplicate_but_a_redelivery_is_not() -> None:
    harness = Harness()
    harness.feed(asset(1), asset(2), asset(2), asset(2, event_id="other-id"), asset(3))
    assert harness.violations("duplicate") == 1
    assert harness.violations("version_gap") == 0
    assert harness.violations("out_of_order") == 0


def test_aggregates_are_checked_independently() -> None:
    harness = Harness()
    harness.feed(asset(1, aggregate="x"), asset(1, aggregate="y"), asset(2, aggregate="x"), asset(2, aggregate="y"))
    assert sum(harness.violations(k) for k in ("version_gap", "out_of_order", "duplicate")) == 0


def test_a_matched_followup_observes_the_event_time_delay() -> None:
    harness = Harness()
    harness.feed(completed("k1"), updated("k1", T0 + timedelta(seconds=2)))
    assert harness.sample("monitoring_sync_delay_seconds_count", rule="txn") == 1
    assert harness.sample("monitoring_sync_delay_seconds_sum", rule="txn") == 2.0


def test_a_followup_that_arrives_before_its_cause_still_matches() -> None:
    harness = Harness()
    harness.feed(updated("k1", T0 + timedelta(seconds=1)), completed("k1"))
    harness.clock.now += 60
    harness.checker.expire()
    assert harness.sample("monitoring_sync_delay_seconds_count", rule="txn") == 1
    assert harness.violations("missing_followup", "transaction-service") == 0


def test_a_cause_without_its_followup_in_time_counts_one_missing_followup() -> None:
    harness = Harness()
    harness.feed(completed("k1"), completed("k2"))
    harness.clock.now += 29
    harness.checker.expire()
    assert harness.violations("missing_followup", "transaction-service") == 0
    harness.feed(updated("k2", T0))
    harness.clock.now += 2
    harness.checker.expire()
    assert harness.violations("missing_followup", "transaction-service") == 1
    assert harness.sample("monitoring_consistency_pending_followups", rule="txn") == 0


def test_pending_expectations_are_bounded_and_the_overflow_is_counted() -> None:
    harness = Harness(capacity=3)
    harness.feed(*(completed(f"k{i}") for i in range(5)))
    assert harness.sample("monitoring_consistency_pending_overflow_total", rule="txn") == 2
    harness.clock.now += 31
    harness.checker.expire()
    assert harness.violations("missing_followup", "transaction-service") == 3


def test_rules_load_from_yaml_and_a_bad_file_names_itself(tmp_path: Path) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text(
        "followups:\n"
        "  - name: rebalance\n"
        "    cause: {type: TransactionCompleted, source: transaction-service}\n"
        "    followup: {type: PortfolioRebalanced}\n"
        "    within: 1m\n"
    )
    (rule,) = load_rules(good)
    assert rule.within_seconds == 60.0
    assert rule.followup == EventPattern("PortfolioRebalanced")
    bad = tmp_path / "bad.yaml"
    bad.write_text("followups:\n  - name: x\n    cause: {type: A}\n    followup: {type: B}\n    within: soon\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*duration"):
        load_rules(bad)
    assert msgspec.structs.asdict(load_rules(None)[0])["within"] == "30s"


def test_the_default_rule_accepts_either_portfolio_answer_to_a_completed_transaction() -> None:
    from datetime import UTC, datetime

    from exporter.consistency import DEFAULT_RULES
    from monitoring import catalogue as cat
    from monitoring.cloudevents import new_event

    at = datetime(2026, 1, 1, tzinfo=UTC)
    rule = DEFAULT_RULES[0]
    rebalanced = new_event(
        id="r", type="PortfolioRebalanced", source="portfolio-service", time=at,
        data=cat.PortfolioRebalanced(portfolio_id="p", trades=1, reason="drift"),
    )  # fmt: skip
    updated = new_event(
        id="u", type="PortfolioPerformanceUpdated", source="portfolio-service", time=at,
        data=cat.PortfolioPerformanceUpdated(portfolio_id="p", return_ratio=0.01, period="1d"),
    )  # fmt: skip
    assert rule.followup.matches(rebalanced)
    assert rule.followup.matches(updated)
    assert not rule.cause.matches(updated)


def test_a_duplicate_cause_expects_no_second_followup() -> None:
    harness = Harness()
    original = msgspec.structs.replace(completed("k1"), aggregateid="t-1", aggregateversion=2)
    duplicate = msgspec.structs.replace(original, id="c-k1-again")  # same version, new id
    harness.feed(original, updated("k1", T0), duplicate)
    harness.clock.now += 31
    harness.checker.expire()
    assert harness.violations("duplicate", "transaction-service") == 1
    assert harness.violations("missing_followup", "transaction-service") == 0
