"""Every secret option can be read from a file named by <VAR>_FILE; a missing file fails naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import EXPORTER_OPTIONS
from monitoring.settings import OPTIONS, ConfigError
from receiver.config.settings import RECEIVER_OPTIONS, ReceiverConfig


def test_every_secret_option_is_read_from_its_file(tmp_path: Path) -> None:
    secrets = [o for o in OPTIONS + RECEIVER_OPTIONS + EXPORTER_OPTIONS if o.secret]
    assert {o.env for o in secrets} >= {"POSTGRES_URI", "RECEIVER_WEBHOOK_TOKEN", "RECEIVER_SMTP_PASSWORD"}
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    config = ReceiverConfig.from_environ({"RECEIVER_WEBHOOK_TOKEN_FILE": str(token)})
    assert config.webhook_token is not None
    assert config.webhook_token.reveal() == "from-a-file"
    uri = tmp_path / "uri"
    uri.write_text("postgresql://app:pw-from-file@127.0.0.1:5432/db")
    settings = ReceiverConfig.from_environ({"POSTGRES_URI_FILE": str(uri)}).shared
    assert settings.postgres_uri is not None
    assert settings.postgres_uri.reveal().endswith("pw-from-file@127.0.0.1:5432/db")
    assert "pw-from-file" not in repr(settings)


def test_the_variable_itself_wins_over_its_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file")
    config = ReceiverConfig.from_environ(
        {"RECEIVER_WEBHOOK_TOKEN": "from-env", "RECEIVER_WEBHOOK_TOKEN_FILE": str(token)}
    )
    assert config.webhook_token is not None
    assert config.webhook_token.reveal() == "from-env"


def test_an_unreadable_secret_file_fails_naming_the_variable_and_not_a_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"RECEIVER_SMS_AUTH_TOKEN_FILE=.*cannot read the secret file"):
        ReceiverConfig.from_environ({"RECEIVER_SMS_AUTH_TOKEN_FILE": str(tmp_path / "absent")})


def test_a_non_secret_option_has_no_file_variant(tmp_path: Path) -> None:
    workers = tmp_path / "workers"
    workers.write_text("7")
    assert ReceiverConfig.from_environ({"RECEIVER_WORKERS_FILE": str(workers)}).workers == 2
