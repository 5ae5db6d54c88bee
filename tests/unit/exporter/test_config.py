from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import DEFAULT_TOPICS, ExporterConfig
from monitoring.settings import ConfigError


def test_defaults_consume_the_platform_topics_in_the_exporter_group() -> None:
    config = ExporterConfig.from_environ({})
    assert config.topics == DEFAULT_TOPICS
    assert config.group_id == "monitoring-exporter"
    assert config.consistency is True
    assert config.allocator == "tuned"


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text("exporter: {topics: [a.events, b.events], group_id: from-file, lag_window: 4}\n")
    config = ExporterConfig.from_environ({"MONITORING_CONFIG": str(path), "EXPORTER_GROUP_ID": "from-env"})
    assert config.topics == ("a.events", "b.events")
    assert config.group_id == "from-env"
    assert config.lag_window == 4


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("EXPORTER_TOPICS", "bad topic!"),
        ("EXPORTER_GROUP_ID", "a,b"),
        ("EXPORTER_COMMIT_INTERVAL", "soon"),
        ("EXPORTER_ALLOCATOR", "jemalloc"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        ExporterConfig.from_environ({variable: raw})
