"""Faults injected into a real event stream on Kafka yield exactly the expected violations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from exporter.config import ExporterConfig
from exporter.main import build
from tests.integration.exporter.stream import Topics, platform_events, produce, scrape, total, value, wait_for


def test_each_fault_injected_into_the_stream_is_reported_exactly_once(
    kafka_brokers: str, platform_topics: Topics, group_id: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "followups:\n"
        "  - name: txn\n"
        "    cause: {type: TransactionCompleted, source: transaction-service}\n"
        "    followup: {type: PortfolioPerformanceUpdated, source: portfolio-service}\n"
        "    within: 10s\n"  # cause and follow-up are on different topics: allow for load
    )
    events = list(platform_events(seed=31, steps=200, start=datetime.now(UTC)))
    asset = next(e for e in events if e.type == "AssetValuationChanged")  # version 2 of its asset
    txn = next(e for e in events if e.type == "TransactionInitiated")  # version 1 of its transaction
    dropped = next(e for e in reversed(events) if e.type == "PortfolioPerformanceUpdated")
    assert asset.aggregateversion == 2
    faults = [
        msgspec.structs.replace(asset, id="fault-gap", aggregateversion=4),  # 2 -> 4: version_gap
        msgspec.structs.replace(asset, id="fault-late", aggregateversion=3),  # 3 after 4: out_of_order
    ]
    txn_versions = sorted(e.aggregateversion or 0 for e in events if e.aggregateid == txn.aggregateid)
    last_txn = next(e for e in events if e.aggregateid == txn.aggregateid and e.aggregateversion == txn_versions[-1])
    faults.append(msgspec.structs.replace(last_txn, id="fault-dup"))  # same version, new id: duplicate

    config = ExporterConfig.from_environ(
        {
            "KAFKA_BROKERS": kafka_brokers,
            "EXPORTER_TOPICS": ",".join(platform_topics.names),
            "EXPORTER_GROUP_ID": group_id,
            "EXPORTER_CONSISTENCY_RULES": str(rules),
            "EXPORTER_LAG_INTERVAL": "1s",
        }
    )
    exporter = build(config, port=0)
    exporter.start()
    url = f"http://127.0.0.1:{exporter.server.port}/metrics"
    try:
        produce(kafka_brokers, platform_topics, [e for e in events if e is not dropped])
        produce(kafka_brokers, platform_topics, faults)  # after their originals, on the same partitions
        completed = sum(1 for e in events if e.type == "TransactionCompleted")
        assert wait_for(
            lambda: value(scrape(url), "monitoring_consistency_violations_total", kind="missing_followup",
                          source="transaction-service") >= 1,
            30,
        )  # fmt: skip
        assert wait_for(
            lambda: value(scrape(url), "monitoring_sync_delay_seconds_count", rule="txn") == completed - 1, 30
        )
        samples = scrape(url)
    finally:
        exporter.stop()
    violations = "monitoring_consistency_violations_total"
    assert value(samples, violations, kind="version_gap", source="asset-service") == 1
    assert value(samples, violations, kind="out_of_order", source="asset-service") == 1
    assert value(samples, violations, kind="duplicate", source="transaction-service") == 1
    assert value(samples, violations, kind="missing_followup", source="transaction-service") == 1
    assert total(samples, violations) == 4
