"""Where Prometheus places each rule group in its interval, and how a group of the given files is matched to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.rules.schedule import Schedule, prometheus_offset_ms

# Observed on Prometheus 2.42: the millisecond within its interval of every sample each group
# recorded (`record: observed, expr: vector(1)`, rule files under /tmp/observed-prometheus/rules).
RUN = "/tmp/observed-prometheus/rules"


@pytest.mark.parametrize(
    ("file", "group", "interval", "observed_ms"),
    [
        (f"{RUN}/alerts.yml", "anomaly", 1.0, 34),
        (f"{RUN}/alerts.yml", "application", 1.0, 826),
        (f"{RUN}/alerts.yml", "meta", 15.0, 4212),
        (f"{RUN}/recording.yml", "anomaly", 1.0, 5),
        (f"{RUN}/recording.yml", "business", 60.0, 9766),
    ],
)
def test_the_offset_is_the_one_prometheus_evaluated_the_group_at(
    file: str, group: str, interval: float, observed_ms: int
) -> None:
    assert prometheus_offset_ms(file, group, interval) == observed_ms


def test_the_offset_lies_within_the_interval_and_moves_with_the_path_and_the_name() -> None:
    offsets = {prometheus_offset_ms(f"/etc/prometheus/{f}.yml", g, 60.0) for f in "ab" for g in "xy"}
    assert len(offsets) == 4
    assert all(0 <= o < 60_000 for o in offsets)


def loaded(file: str, name: str) -> dict[str, object]:
    """A group as /api/v1/rules reports it."""
    return {"file": file, "name": name, "interval": 1.0, "lastEvaluation": "2026-12-04T06:14:41.036600109Z"}


def test_a_group_of_an_edited_copy_takes_the_offset_of_the_loaded_file_of_the_same_name(tmp_path: Path) -> None:
    schedule = Schedule([loaded(f"{RUN}/alerts.yml", "anomaly")])
    assert schedule.offset_ms(tmp_path / "alerts.yml", "anomaly", 1.0) == 34
    assert schedule.offset_ms(Path(f"Prometheus's {RUN}/alerts.yml"), "anomaly", 1.0) == 34
    # a new group in that file: where Prometheus would put it once loaded from there
    assert schedule.offset_ms(tmp_path / "alerts.yml", "new", 1.0) == prometheus_offset_ms(
        f"{RUN}/alerts.yml", "new", 1.0
    )


def test_a_file_prometheus_does_not_load_keeps_its_own_path(tmp_path: Path) -> None:
    schedule = Schedule([loaded(f"{RUN}/alerts.yml", "anomaly")])
    own = tmp_path / "mine.yml"
    assert schedule.offset_ms(own, "g", 15.0) == prometheus_offset_ms(str(own), "g", 15.0)
