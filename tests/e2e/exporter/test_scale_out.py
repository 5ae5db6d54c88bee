"""1 → 2 → 3 → 2 → 1 exporter processes in one consumer group on a six-partition topic (real
Kafka, PostgreSQL and Prometheus): the scenario of tests/e2e/exporter/scale_out.py.

Throughput at each size is measured by bench/scale_out.py, never asserted here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import fresh_database
from tests.e2e.exporter.group_log import consistency_overlaps, owned_twice, owners_at, read_ownership
from tests.e2e.exporter.scale_out import ScaleOut, ScaleOutRecord


@pytest.fixture(scope="module")
def record(kafka_brokers: str, postgres_server_uri: str, tmp_path_factory: pytest.TempPathFactory) -> ScaleOutRecord:
    with fresh_database(postgres_server_uri) as uri:
        return ScaleOut(kafka_brokers, uri, tmp_path_factory.mktemp("scale-out")).run()


def test_no_partition_is_ever_owned_by_two_processes_at_once(record: ScaleOutRecord) -> None:
    assert len(record.members) == 3
    assert all(member.intervals for member in record.members)
    assert owned_twice(record.members) == []


def test_after_every_join_and_leave_each_partition_has_one_owner_and_the_changer_s_partitions_moved(
    record: ScaleOutRecord,
) -> None:
    assert [(s.label, s.members) for s in record.steps] == [
        ("0→1 (a joins)", 1), ("1→2 (b joins)", 2), ("2→3 (c joins)", 3),
        ("3→2 (a leaves)", 2), (record.steps[4].label, 1),
    ]  # fmt: skip
    previous: dict[str, str] = {}
    for step in record.steps:
        owners = owners_at(record.members, record.topic.partitions, step.settled_at)
        assert all(len(names) == 1 for names in owners.values()), (step.label, owners)
        owner = {partition: names[0] for partition, names in owners.items()}
        assert len(set(owner.values())) == step.members, (step.label, owner)
        if step.joined:  # the joiner took a share, and each partition of it moved
            taken = [p for p, name in owner.items() if name == step.process]
            assert taken, (step.label, owner)
            assert step.moved >= len(taken), (step.label, step.moved)
        else:  # the leaver's share went to the others
            given = [p for p, name in previous.items() if name == step.process]
            assert given, (step.label, previous)
            assert step.process not in owner.values()
            assert step.moved >= len(given), (step.label, step.moved)
        previous = owner


def test_prometheus_sum_over_the_processes_counts_every_produced_event_once(record: ScaleOutRecord) -> None:
    assert record.produced > 0
    assert record.prometheus_count == record.produced
    assert len(record.per_process) == 3
    assert all(count > 0 for count in record.per_process.values()), record.per_process


def test_exactly_one_consistency_consumer_runs_at_any_time_and_another_takes_over_when_it_leaves(
    record: ScaleOutRecord,
) -> None:
    assert record.max_active_consistency == 1  # Prometheus: sum(monitoring_consistency_active) never 2
    assert record.active_instances >= 2  # a, then whoever took the lock when a left
    assert consistency_overlaps(record.members) == []  # the processes' own logs agree
    assert sum(len(member.consistency) for member in record.members) >= 2


def test_the_group_log_reader_separates_the_consistency_consumer_from_the_group_member(tmp_path: Path) -> None:
    partitions = {f"t:{p}" for p in range(6)}
    lines = [
        ("00", "partitions_assigned", {"assigned": sorted(partitions)}),
        ("01", "consistency_leader_acquired", {}),
        ("02", "partitions_assigned", {"assigned": sorted(partitions)}),  # the consistency consumer
        ("03", "partitions_revoked", {"revoked": sorted(partitions)}),  # the member: a second one joins
        ("04", "partitions_assigned", {"assigned": ["t:0", "t:1", "t:2"]}),
        ("05", "partitions_revoked", {"revoked": sorted(partitions)}),  # the consistency consumer stops
        ("06", "partitions_revoked", {"revoked": ["t:0", "t:1", "t:2"]}),
    ]
    log = tmp_path / "exporter.log"
    log.write_text(
        "\n".join(
            json.dumps({"event": event, "timestamp": f"2026-01-01T00:00:{second}+00:00", **fields})
            for second, event, fields in lines
        )
    )
    owned = read_ownership("x", log, partitions, datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    at = [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(7)]
    assert owned.intervals["t:0"] == [(at[0], at[3]), (at[4], at[6])]
    assert owned.intervals["t:5"] == [(at[0], at[3])]
    assert owned.consistency == [(at[2], at[5])]
