"""The exporter's configuration: the shared settings plus its own section."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.web_config import WebConfig, load_web_config
from monitoring.settings import (
    OPTIONS,
    Option,
    Settings,
    load_config_file,
    parse_choice,
    parse_duration,
    parse_path,
    parse_positive_int,
    resolve,
)

DEFAULT_TOPICS = ("asset.events", "portfolio.events", "transaction.events")


def parse_names(raw: object) -> tuple[str, ...]:
    """A comma-separated list (or YAML list) of Kafka topic or group names."""
    expected = "expected comma-separated names of letters, digits, '.', '_' and '-'"
    if isinstance(raw, list):
        items = [str(item).strip() for item in raw]
    elif isinstance(raw, str):
        items = [item.strip() for item in raw.split(",")]
    else:
        raise ValueError(expected)
    items = [item for item in items if item]
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    if any(not set(item) <= allowed or len(item) > 249 for item in items):
        raise ValueError(expected)
    return tuple(items)


def parse_topics(raw: object) -> tuple[str, ...]:
    topics = parse_names(raw)
    if not topics:
        raise ValueError("expected at least one topic")
    return topics


def parse_instance(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > 128:
        raise ValueError("expected an instance name of 1-128 characters")
    return raw.strip()


def parse_group(raw: object) -> str:
    names = parse_names(raw)
    if len(names) != 1:
        raise ValueError("expected one consumer group name")
    return names[0]


EXPORTER_OPTIONS: tuple[Option[Any], ...] = (
    # Loopback by default; binding every interface is an explicit operator choice.
    Option("EXPORTER_HOST", "exporter.host", parse_choice("127.0.0.1", "0.0.0.0", "::", "::1"), "127.0.0.1"),  # noqa: S104
    Option("EXPORTER_INPROCESS_RATE", "exporter.inprocess_rate", parse_positive_int, 50),
    Option("EXPORTER_TOPICS", "exporter.topics", parse_topics, DEFAULT_TOPICS),
    Option("EXPORTER_GROUP_ID", "exporter.group_id", parse_group, "monitoring-exporter"),
    Option("EXPORTER_COMMIT_INTERVAL", "exporter.commit_interval", parse_duration, 5.0),
    Option("EXPORTER_SESSION_TIMEOUT", "exporter.session_timeout", parse_duration, 45.0),
    Option("EXPORTER_LABEL_LIMIT", "exporter.label_limit", parse_positive_int, 20),
    Option("EXPORTER_LAG_GROUPS", "exporter.lag_groups", parse_names, ()),
    Option("EXPORTER_LAG_INTERVAL", "exporter.lag_interval", parse_duration, 10.0),
    Option("EXPORTER_LAG_WINDOW", "exporter.lag_window", parse_positive_int, 10),
    Option("EXPORTER_CONSISTENCY", "exporter.consistency", parse_choice("on", "off"), "on"),
    Option("EXPORTER_CONSISTENCY_RULES", "exporter.consistency_rules", parse_path, None),
    Option("EXPORTER_QUERIES", "exporter.queries", parse_path, None),
    Option("EXPORTER_HEALTH_CHECKS", "exporter.health_checks", parse_path, None),
    Option("EXPORTER_DOMAIN_EVENTS", "exporter.domain_events", parse_choice("on", "off"), "on"),
    Option("EXPORTER_SPOOL_PATH", "exporter.spool_path", parse_path, None),
    Option("EXPORTER_SPOOL_CAPACITY", "exporter.spool_capacity", parse_positive_int, 100_000),
    Option("EXPORTER_EVENT_STORE_PATH", "exporter.event_store_path", parse_path, Path(".cache/events.sqlite3")),
    Option("EXPORTER_SNAPSHOTS", "exporter.snapshots", parse_choice("on", "off"), "on"),
    Option("EXPORTER_INSTANCE", "exporter.instance", parse_instance, ""),
    Option("EXPORTER_TRACE_RATE", "exporter.trace_rate", parse_positive_int, 100),
    # TLS and basic auth for /metrics, in Prometheus's --web.config.file format (exporter/web_config.py).
    Option("EXPORTER_WEB_CONFIG", "exporter.web_config", parse_path, None),
    # glibc's malloc set for streaming (exporter/allocator.py), or left at its defaults.
    Option("EXPORTER_ALLOCATOR", "exporter.allocator", parse_choice("tuned", "default"), "tuned"),
)


@dataclass(frozen=True)
class ExporterConfig:
    shared: Settings
    host: str = "127.0.0.1"
    inprocess_rate: int = 50
    topics: tuple[str, ...] = DEFAULT_TOPICS
    group_id: str = "monitoring-exporter"
    commit_interval_seconds: float = 5.0
    session_timeout_seconds: float = 45.0
    label_limit: int = 20
    lag_groups: tuple[str, ...] = ()
    lag_interval_seconds: float = 10.0
    lag_window: int = 10
    consistency: bool = True
    consistency_rules: Path | None = None
    queries: Path | None = None
    health_checks: Path | None = None
    domain_events: bool = True
    spool_path: Path | None = None
    spool_capacity: int = 100_000
    event_store_path: Path = Path(".cache/events.sqlite3")
    snapshots: bool = True
    instance: str = ""
    trace_rate: int = 100  # processing spans per second at most (with tracing on)
    web: WebConfig = field(default_factory=WebConfig)  # EXPORTER_WEB_CONFIG: TLS, basic auth
    allocator: str = "tuned"  # EXPORTER_ALLOCATOR: tuned | default

    @property
    def spool_file(self) -> Path:
        """EXPORTER_SPOOL_PATH, else one file per exporter port: instances never share a spool."""
        return self.spool_path or Path(f".cache/exporter-{self.shared.exporter_port}-spool.sqlite3")

    @property
    def instance_name(self) -> str:
        """This exporter's name in MetricCollected events: EXPORTER_INSTANCE, else host:port."""
        return self.instance or f"{socket.gethostname()}:{self.shared.exporter_port}"

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ExporterConfig:
        path, file_values = load_config_file(env)
        values = resolve(OPTIONS + EXPORTER_OPTIONS, env, file_values, path)
        return cls(
            shared=Settings.from_values(values, path),
            host=values["exporter.host"],
            inprocess_rate=values["exporter.inprocess_rate"],
            topics=values["exporter.topics"],
            group_id=values["exporter.group_id"],
            commit_interval_seconds=values["exporter.commit_interval"],
            session_timeout_seconds=values["exporter.session_timeout"],
            label_limit=values["exporter.label_limit"],
            lag_groups=values["exporter.lag_groups"],
            lag_interval_seconds=values["exporter.lag_interval"],
            lag_window=values["exporter.lag_window"],
            consistency=values["exporter.consistency"] == "on",
            consistency_rules=values["exporter.consistency_rules"],
            queries=values["exporter.queries"],
            health_checks=values["exporter.health_checks"],
            domain_events=values["exporter.domain_events"] == "on",
            spool_path=values["exporter.spool_path"],
            spool_capacity=values["exporter.spool_capacity"],
            event_store_path=values["exporter.event_store_path"],
            snapshots=values["exporter.snapshots"] == "on",
            instance=values["exporter.instance"],
            trace_rate=values["exporter.trace_rate"],
            allocator=values["exporter.allocator"],
            web=WebConfig()
            if values["exporter.web_config"] is None
            else load_web_config(values["exporter.web_config"]),
        )


def _web(path: Path | None) -> WebConfig:
    return WebConfig() if path is None else load_web_config(path)
