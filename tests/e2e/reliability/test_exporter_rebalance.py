"""Exporter consumer group scaled 1→2→1 under a steady load: partition ownership and counts."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from pathlib import Path

from tests.e2e.exporter.test_exporter_instances import committed, exporter_env, members_with_partitions
from tests.e2e.reliability.conftest import Figures, Scale
from tests.e2e.reliability.test_exporter_faults import RATE, SteadyLoad, processed
from tests.integration.exporter.processes import ExporterProcess
from tests.integration.exporter.stream import Topics, scrape, wait_for

PHASE_SECONDS = {"short": 4.0, "full": 30.0}  # time under load at 1, then 2 instances


def ownership(log_path: Path, until: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per partition, the intervals this instance owned it: from its assigned line to its revoked line."""
    held: dict[str, datetime] = {}
    owned: dict[str, list[tuple[datetime, datetime]]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        at = datetime.fromisoformat(entry["timestamp"])
        if entry.get("event") == "partitions_assigned":
            held.update(dict.fromkeys(entry["assigned"], at))
        elif entry.get("event") == "partitions_revoked":
            for name in entry["revoked"]:
                owned.setdefault(name, []).append((held.pop(name), at))
    for name, since in held.items():  # still held when the log was read
        owned.setdefault(name, []).append((since, until))
    return owned


def overlaps(a: dict[str, list[tuple[datetime, datetime]]], b: dict[str, list[tuple[datetime, datetime]]]) -> list[str]:
    """Partitions owned by both instances at the same instant."""
    return sorted(
        name for name in set(a) & set(b) if any(s1 < e2 and s2 < e1 for s1, e1 in a[name] for s2, e2 in b[name])
    )


def committed_records(log_path: Path) -> int:
    """What an instance processed and committed: the sum of its ``offsets_committed`` lines."""
    count = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"offsets_committed"' in line:
            count += int(json.loads(line)["records"])
    return count


def test_an_exporter_group_scaled_one_two_one_under_load_counts_every_event_once_with_no_shared_partition(
    kafka_brokers: str, platform_topics: Topics, log_dir: Path, scale: Scale, figures: Figures
) -> None:
    """Exporter consumer group scaled 1→2→1 under a steady event load (the second instance stopped with SIGTERM).

    Nothing lost: the committed offsets reach the end; the instances' counts sum to what was
    produced (re-counts measured; with graceful revokes they are 0). No partition is owned by
    both instances at the same time (intervals from their assigned/revoked log lines).
    """
    phase = PHASE_SECONDS[scale.name]
    group = f"reliability-rebalance-{uuid.uuid4().hex[:8]}"
    env = exporter_env(kafka_brokers, platform_topics, group, EXPORTER_CONSISTENCY="off")
    partitions = {f"{t}:{p}" for t in platform_topics.names for p in range(3)}
    load = SteadyLoad(kafka_brokers, platform_topics)
    load.start()
    a = ExporterProcess("exporter-a", log_dir, env)
    b: ExporterProcess | None = None
    try:
        assert wait_for(lambda: members_with_partitions(kafka_brokers, group) == 1, 30)
        time.sleep(phase)  # 1 instance under load
        b = second = ExporterProcess("exporter-b", log_dir, env)
        started = time.monotonic()
        assert wait_for(lambda: members_with_partitions(kafka_brokers, group) == 2, 30)
        rebalanced_in = time.monotonic() - started
        assert wait_for(lambda: processed(scrape(second.metrics_url)) > 0, 30)
        time.sleep(phase)  # 2 instances under load
        counted_by_a_before_stop = processed(scrape(a.metrics_url))
        b.stop()  # SIGTERM: finish the batch, commit, leave the group (revoke)
        b_stopped_at = datetime.now().astimezone()
        assert wait_for(lambda: members_with_partitions(kafka_brokers, group) == 1, 30)
        time.sleep(phase)  # back to 1 instance under load
    finally:
        produced = load.stop()
        if b is not None:
            b.stop()
    try:
        assert wait_for(lambda: committed(kafka_brokers, group, platform_topics) == produced, 60)
        counted_by_b = committed_records(b.log_path)
        assert wait_for(lambda: processed(scrape(a.metrics_url)) + counted_by_b >= produced, 30)
        counted_by_a = processed(scrape(a.metrics_url))
        a_read_at = datetime.now().astimezone()
    finally:
        a.stop()
    owned_a, owned_b = ownership(a.log_path, a_read_at), ownership(b.log_path, b_stopped_at)
    shared = overlaps(owned_a, owned_b)
    assert set(owned_a) == partitions  # A held everything at the start and at the end
    assert owned_b  # B took a share...
    assert set(owned_b) < partitions  # ...not all of it, and gave it back (its intervals end)
    assert shared == [], shared
    assert counted_by_a > counted_by_a_before_stop  # A kept counting after the 2→1 step
    assert counted_by_a + counted_by_b == produced  # nothing lost, nothing counted twice
    figures.record(
        records_produced=produced,
        steady_rate_per_s=RATE,
        phase_s=phase,
        counted_by_a=int(counted_by_a),
        counted_by_b=counted_by_b,
        lost=produced - committed(kafka_brokers, group, platform_topics),
        recounted=int(counted_by_a + counted_by_b - produced),
        partitions=len(partitions),
        partitions_moved_to_b=len(owned_b),
        ownership_changes=sum(len(v) for v in owned_a.values()) + sum(len(v) for v in owned_b.values()),
        partitions_owned_twice_at_once=len(shared),
        second_member_assigned_in_s=round(rebalanced_in, 1),
    )
