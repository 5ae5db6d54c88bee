"""The receiver's configuration: the shared settings plus its own section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.settings import (
    OPTIONS,
    Option,
    Settings,
    load_config_file,
    parse_choice,
    parse_path,
    parse_positive_int,
    resolve,
)

RECEIVER_OPTIONS: tuple[Option[Any], ...] = (
    # Loopback by default; binding every interface is an explicit operator choice.
    Option("RECEIVER_HOST", "receiver.host", parse_choice("127.0.0.1", "0.0.0.0", "::", "::1"), "127.0.0.1"),  # noqa: S104
    Option("RECEIVER_WORKERS", "receiver.workers", parse_positive_int, 2),
    Option("RECEIVER_SQLITE_PATH", "receiver.sqlite_path", parse_path, Path(".cache/receiver.sqlite3")),
)


@dataclass(frozen=True)
class ReceiverConfig:
    shared: Settings
    host: str = "127.0.0.1"
    workers: int = 2
    sqlite_path: Path = Path(".cache/receiver.sqlite3")

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ReceiverConfig:
        path, file_values = load_config_file(env)
        values = resolve(OPTIONS + RECEIVER_OPTIONS, env, file_values, path)
        return cls(
            shared=Settings.from_values(values, path),
            host=values["receiver.host"],
            workers=values["receiver.workers"],
            sqlite_path=values["receiver.sqlite_path"],
        )

    @property
    def database_label(self) -> str:
        """Where alert history lives, safe to log."""
        if self.shared.postgres_uri is not None:
            return str(self.shared.postgres_uri)
        return f"sqlite:///{self.sqlite_path}"
