from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.catalogue import (
    CATALOGUE,
    MONITORING_EVENTS,
    PLATFORM_EVENTS,
    PUBLISHER,
    SCHEMA_DIR,
    TOPIC_OF_SOURCE,
    generated_schemas,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_catalogue_has_the_specs_event_types() -> None:
    assert set(PLATFORM_EVENTS) == {
        "AssetCreated",
        "AssetModified",
        "AssetValuationChanged",
        "PortfolioRebalanced",
        "PortfolioPerformanceUpdated",
        "PortfolioGoalProgressUpdated",
        "TransactionInitiated",
        "TransactionCompleted",
        "TransactionFailed",
    }
    assert set(MONITORING_EVENTS) == {
        "MetricCollected",
        "ThresholdExceeded",
        "AlertCreated",
        "AlertResolved",
        "PerformanceAnomaly",
        "ServiceHealthChanged",
        "IncidentOpened",
        "IncidentResolved",
    }


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_type_has_a_publisher_a_topic_a_schema_file_and_a_doc_entry(name: str) -> None:
    assert PUBLISHER[name] in TOPIC_OF_SOURCE
    assert (SCHEMA_DIR / f"{name}.json").is_file()
    assert f"`{name}`" in (ROOT / "docs" / "events.md").read_text()


def test_checked_in_schemas_match_the_catalogue() -> None:
    generated = generated_schemas()
    on_disk = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk == generated, "run `make schemas` and commit the result"
