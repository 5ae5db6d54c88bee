"""The exporter's configuration: the shared settings plus its own section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitoring.settings import (
    OPTIONS,
    Option,
    Settings,
    load_config_file,
    parse_choice,
    parse_positive_int,
    resolve,
)

EXPORTER_OPTIONS: tuple[Option[Any], ...] = (
    # Loopback by default; binding every interface is an explicit operator choice.
    Option("EXPORTER_HOST", "exporter.host", parse_choice("127.0.0.1", "0.0.0.0", "::", "::1"), "127.0.0.1"),  # noqa: S104
    Option("EXPORTER_INPROCESS_RATE", "exporter.inprocess_rate", parse_positive_int, 50),
)


@dataclass(frozen=True)
class ExporterConfig:
    shared: Settings
    host: str = "127.0.0.1"
    inprocess_rate: int = 50

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ExporterConfig:
        path, file_values = load_config_file(env)
        values = resolve(OPTIONS + EXPORTER_OPTIONS, env, file_values, path)
        return cls(
            shared=Settings.from_values(values, path),
            host=values["exporter.host"],
            inprocess_rate=values["exporter.inprocess_rate"],
        )
