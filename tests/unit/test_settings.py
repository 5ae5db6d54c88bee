from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.settings import ConfigError, Secret, Settings, parse_duration


def test_defaults_follow_the_spec() -> None:
    settings = Settings.from_environ({})
    assert settings.collection.interval_seconds == 15
    assert settings.collection.batch_size == 1000
    assert settings.collection.buffer_size == 10000
    assert settings.retention.metrics_seconds == 15 * 86400
    assert settings.retention.events_seconds == 30 * 86400
    assert settings.retention.alerts_seconds == 90 * 86400
    assert settings.postgres_uri is None
    assert settings.kafka_brokers == ()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15), ("5m", 300), ("1h30m", 5400), ("15d", 15 * 86400), ("2w", 14 * 86400), ("250ms", 0.25), ("30", 30)],
)
def test_durations_parse_like_prometheus(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROMETHEUS_PORT": "abc"}, "PROMETHEUS_PORT='abc': expected an integer"),
        ({"EXPORTER_PORT": "70000"}, "EXPORTER_PORT='70000': expected a TCP port between 1 and 65535"),
        ({"COLLECTION_BATCH_SIZE": "0"}, "COLLECTION_BATCH_SIZE='0': expected a positive integer"),
        ({"COLLECTION_INTERVAL": "fast"}, "COLLECTION_INTERVAL='fast': expected a duration"),
        ({"RETENTION_EVENTS": "-3d"}, "RETENTION_EVENTS='-3d': expected a duration"),
        ({"KAFKA_BROKERS": "localhost"}, "KAFKA_BROKERS='localhost': expected comma-separated host:port"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml': expected one of auto, json, console"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_environ(env)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("variable", ["POSTGRES_URI", "MONGODB_URI"])
def test_a_bad_secret_is_never_echoed(variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_environ({variable: "ftp://admin:hunter2@db.internal/x"})
    assert "hunter2" not in str(info.value)
    assert variable in str(info.value)


def test_secrets_are_masked_in_repr_and_str_but_revealed_on_request() -> None:
    settings = Settings.from_environ({"POSTGRES_URI": "postgresql://app:hunter2@db:5432/alerts?sslkey=k"})
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.postgres_uri)
    assert isinstance(settings.postgres_uri, Secret)
    assert settings.postgres_uri.reveal() == "postgresql://app:hunter2@db:5432/alerts?sslkey=k"
    assert str(settings.postgres_uri) == "postgresql://app:***@db:5432/alerts?***"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text("collection:\n  interval: 30s\n  batch_size: 500\nretention:\n  events: 7d\n")
    settings = Settings.from_environ({"MONITORING_CONFIG": str(config), "COLLECTION_BATCH_SIZE": "2000"})
    assert settings.collection.interval_seconds == 30
    assert settings.collection.batch_size == 2000
    assert settings.retention.events_seconds == 7 * 86400
    assert settings.config_file == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("collection:\n  batch_size: lots\n", ":2: collection.batch_size='lots': expected an integer"),
        ("collection:\n  intervall: 5s\n", ":2: unknown setting 'collection.intervall'"),
        ("colection:\n  interval: 5s\n", ":2: unknown section 'colection'"),
        ("collection: [1, 2\n", ":2: invalid YAML"),
        ("- a\n- b\n", ":1: expected a mapping at the top level"),
    ],
)
def test_a_bad_file_names_file_line_and_reason(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        Settings.from_environ({"MONITORING_CONFIG": str(config)})
    assert str(info.value).startswith(f"{config}{message}")


def test_a_missing_file_is_an_error_not_a_silent_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        Settings.from_environ({"MONITORING_CONFIG": str(tmp_path / "absent.yaml")})


def test_sections_of_other_deployables_are_left_to_them(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.yaml"
    config.write_text("exporter:\n  anything: 1\nports:\n  exporter: 9200\n")
    assert Settings.from_environ({"MONITORING_CONFIG": str(config)}).exporter_port == 9200
