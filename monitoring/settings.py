"""Typed configuration from the environment and an optional YAML file.

Each deployable builds its settings once, at start-up, from an explicit mapping
(``Settings.from_environ(os.environ)``), so tests pass a dict instead of patching
``os.environ``. Environment variables override the file. A bad value fails fast
with the variable's name, the value given and what was expected; secrets are
never echoed (their values are replaced by ``***``). Every secret can also be read
from a file named by ``<VAR>_FILE`` (Docker and Kubernetes secrets); ``<VAR>`` wins.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import yaml

T = TypeVar("T")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting and its source."""


@dataclass(frozen=True)
class Secret:
    """A credential-bearing value whose repr never shows the credential."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({redact_uri(self._value)!r})"

    def __str__(self) -> str:
        return redact_uri(self._value)


def redact_uri(value: str) -> str:
    """Replace the password of a URI (and any query string) with ``***``."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "***"
    if not parts.scheme or not parts.netloc:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


# --- parsers: raw value (str from the environment, or a YAML scalar) -> typed value ---
# Each raises ValueError with a short "expected ..." text; ``resolve`` adds the context.


def parse_port(raw: object) -> int:
    port = parse_int(raw)
    if not 1 <= port <= 65535:
        raise ValueError("expected a TCP port between 1 and 65535")
    return port


def parse_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("expected an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?\d+\s*", raw):
        return int(raw)
    raise ValueError("expected an integer")


def parse_positive_int(raw: object) -> int:
    value = parse_int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(raw: object) -> float:
    """Seconds from a Prometheus-style duration ("15s", "1h30m", "15d") or a number of seconds."""
    expected = "expected a duration such as 15s, 5m, 1h30m or 15d"
    if isinstance(raw, bool):
        raise ValueError(expected)
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _DURATION.sub("", text) == "":
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
        else:
            raise ValueError(expected)
    else:
        raise ValueError(expected)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("expected a positive duration")
    return seconds


def parse_uri(*schemes: str) -> Callable[[object], Secret]:
    def parse(raw: object) -> Secret:
        expected = f"expected a URI with scheme {' or '.join(schemes)}"
        if not isinstance(raw, str):
            raise ValueError(expected)
        try:
            parts = urlsplit(raw.strip())
        except ValueError as exc:
            raise ValueError(expected) from exc
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(expected)
        return Secret(raw.strip())

    return parse


_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-_]+):(\d{1,5})$")


def parse_brokers(raw: object) -> tuple[str, ...]:
    """A comma-separated list of host:port Kafka bootstrap servers."""
    expected = "expected comma-separated host:port pairs, e.g. 127.0.0.1:9092"
    if isinstance(raw, list):
        items = [str(item).strip() for item in raw]
    elif isinstance(raw, str):
        items = [item.strip() for item in raw.split(",") if item.strip()]
    else:
        raise ValueError(expected)
    for item in items:
        match = _HOST_PORT.match(item)
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise ValueError(expected)
    return tuple(items)


def parse_choice(*choices: str) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        value = str(raw).strip().lower() if isinstance(raw, str) else None
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def parse_path(raw: object) -> Path:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("expected a file path")
    return Path(raw.strip())


# --- resolution ---


@dataclass(frozen=True)
class Option(Generic[T]):
    """One setting: where it comes from and how it is parsed."""

    env: str
    key: str  # dotted path in the YAML file, e.g. "collection.batch_size"
    parse: Callable[[object], T]
    default: T | None
    secret: bool = False


@dataclass(frozen=True)
class FileValue:
    value: object
    line: int


def read_config_file(path: Path) -> dict[str, FileValue]:
    """Flatten a YAML mapping into dotted keys, keeping each value's line for error messages."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem}") from exc
    flat: dict[str, FileValue] = {}
    if root is None:
        return flat
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: expected a mapping at the top level")
    _flatten(path, root, "", flat)
    return flat


def _flatten(path: Path, node: yaml.MappingNode, prefix: str, out: dict[str, FileValue]) -> None:
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        if isinstance(value_node, yaml.MappingNode):
            _flatten(path, value_node, f"{key}.", out)
        else:
            value = yaml.safe_load(yaml.serialize(value_node))
            out[key] = FileValue(value=value, line=value_node.start_mark.line + 1)


# Top-level sections of the YAML file. Shared ones are resolved by ``Settings``; each
# deployable resolves its own section with its own options and ignores the others'.
SECTIONS = (
    "stores",
    "ports",
    "collection",
    "retention",
    "logging",
    "exporter",
    "receiver",
    "simulator",
)


def resolve(
    options: Sequence[Option[Any]],
    env: Mapping[str, str],
    file_values: Mapping[str, FileValue],
    file_path: Path | None = None,
) -> dict[str, Any]:
    """Values by option key: environment first, then the file, then the default.

    Keys in the file that fall in a section these options own, but match none of
    them, are rejected (they are typos); so are keys in an unknown section.
    """
    known = {option.key for option in options}
    owned = {key.split(".", 1)[0] for key in known}
    for key, fv in file_values.items():
        section = key.split(".", 1)[0]
        if section not in SECTIONS:
            raise ConfigError(
                f"{file_path}:{fv.line}: unknown section {section!r}; known sections: {', '.join(SECTIONS)}"
            )
        if section in owned and key not in known:
            siblings = sorted(k for k in known if k.startswith(f"{section}."))
            raise ConfigError(
                f"{file_path}:{fv.line}: unknown setting {key!r}; known in {section!r}: {', '.join(siblings)}"
            )
    resolved: dict[str, Any] = {}
    for option in options:
        raw: object
        raw_env = env.get(option.env)
        secret_file = env.get(f"{option.env}_FILE", "").strip() if option.secret else ""
        if raw_env is not None and raw_env.strip() != "":
            source, raw = option.env, raw_env
        elif secret_file:  # a secret may come from a file (Docker/Kubernetes secrets): <VAR>_FILE
            source, raw = f"{option.env}_FILE", _read_secret_file(option.env, secret_file)
        elif option.key in file_values:
            fv = file_values[option.key]
            source, raw = f"{file_path}:{fv.line}: {option.key}", fv.value
        else:
            resolved[option.key] = option.default
            continue
        try:
            resolved[option.key] = option.parse(raw)
        except ValueError as exc:
            shown = "(value hidden)" if option.secret else f"{raw!r}"
            raise ConfigError(f"{source}={shown}: {exc}") from None
    return resolved


def _read_secret_file(name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}_FILE={path}: cannot read the secret file: {exc.strerror}") from None


# --- the shared settings ---


@dataclass(frozen=True)
class CollectionSettings:
    interval_seconds: float = 15.0
    batch_size: int = 1000
    buffer_size: int = 10000


@dataclass(frozen=True)
class RetentionSettings:
    metrics_seconds: float = 15 * 86400.0
    events_seconds: float = 30 * 86400.0
    alerts_seconds: float = 90 * 86400.0


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS to Kafka: ``protocol`` "ssl" verifies the brokers against ``ca_file`` (the system's CAs
    when unset); ``cert_file`` and ``key_file`` present a client certificate (mutual TLS)."""

    protocol: str = "plaintext"
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def client_config(self) -> dict[str, str]:
        """librdkafka properties for every producer, consumer and admin client."""
        if self.protocol == "plaintext":
            return {}
        config = {"security.protocol": "ssl", "ssl.endpoint.identification.algorithm": "https"}
        if self.ca_file is not None:
            config["ssl.ca.location"] = str(self.ca_file)
        if self.cert_file is not None and self.key_file is not None:
            config["ssl.certificate.location"] = str(self.cert_file)
            config["ssl.key.location"] = str(self.key_file)
        return config


OPTIONS: tuple[Option[Any], ...] = (
    Option("MONGODB_URI", "stores.mongodb_uri", parse_uri("mongodb", "mongodb+srv"), None, True),
    Option("POSTGRES_URI", "stores.postgres_uri", parse_uri("postgresql", "postgres"), None, True),
    Option("KAFKA_BROKERS", "stores.kafka_brokers", parse_brokers, ()),
    Option("KAFKA_SECURITY_PROTOCOL", "stores.kafka_security_protocol", parse_choice("plaintext", "ssl"), "plaintext"),
    Option("KAFKA_SSL_CA_FILE", "stores.kafka_ssl_ca_file", parse_path, None),
    Option("KAFKA_SSL_CERT_FILE", "stores.kafka_ssl_cert_file", parse_path, None),
    Option("KAFKA_SSL_KEY_FILE", "stores.kafka_ssl_key_file", parse_path, None),
    Option("PROMETHEUS_PORT", "ports.prometheus", parse_port, 9090),
    Option("ALERTMANAGER_PORT", "ports.alertmanager", parse_port, 9093),
    Option("GRAFANA_PORT", "ports.grafana", parse_port, 3000),
    Option("EXPORTER_PORT", "ports.exporter", parse_port, 9108),
    Option("RECEIVER_PORT", "ports.receiver", parse_port, 8080),
    Option("COLLECTION_INTERVAL", "collection.interval", parse_duration, 15.0),
    Option("COLLECTION_BATCH_SIZE", "collection.batch_size", parse_positive_int, 1000),
    Option("COLLECTION_BUFFER_SIZE", "collection.buffer_size", parse_positive_int, 10000),
    Option("RETENTION_METRICS", "retention.metrics", parse_duration, 15 * 86400.0),
    Option("RETENTION_EVENTS", "retention.events", parse_duration, 30 * 86400.0),
    Option("RETENTION_ALERTS", "retention.alerts", parse_duration, 90 * 86400.0),
    Option("LOG_FORMAT", "logging.format", parse_choice("auto", "json", "console"), "auto"),
    Option("LOG_LEVEL", "logging.level", parse_choice("debug", "info", "warning", "error"), "info"),
)

CONFIG_FILE_ENV = "MONITORING_CONFIG"


@dataclass(frozen=True)
class Settings:
    """Settings shared by every deployable of the monitoring stack."""

    mongodb_uri: Secret | None = None
    postgres_uri: Secret | None = None
    kafka_brokers: tuple[str, ...] = ()
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    grafana_port: int = 3000
    exporter_port: int = 9108
    receiver_port: int = 8080
    collection: CollectionSettings = field(default_factory=CollectionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    log_format: str = "auto"
    log_level: str = "info"
    config_file: Path | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        config_file, file_values = load_config_file(env)
        return cls.from_values(resolve(OPTIONS, env, file_values, config_file), config_file)

    @classmethod
    def from_values(cls, v: Mapping[str, Any], config_file: Path | None = None) -> Settings:
        """Build from ``resolve`` output; deployables resolve ``OPTIONS`` with their own."""
        if (v["stores.kafka_ssl_cert_file"] is None) != (v["stores.kafka_ssl_key_file"] is None):
            raise ConfigError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE must be set together")
        return cls(
            mongodb_uri=v["stores.mongodb_uri"],
            postgres_uri=v["stores.postgres_uri"],
            kafka_brokers=v["stores.kafka_brokers"],
            kafka_security=KafkaSecurity(
                protocol=v["stores.kafka_security_protocol"],
                ca_file=v["stores.kafka_ssl_ca_file"],
                cert_file=v["stores.kafka_ssl_cert_file"],
                key_file=v["stores.kafka_ssl_key_file"],
            ),
            prometheus_port=v["ports.prometheus"],
            alertmanager_port=v["ports.alertmanager"],
            grafana_port=v["ports.grafana"],
            exporter_port=v["ports.exporter"],
            receiver_port=v["ports.receiver"],
            collection=CollectionSettings(
                interval_seconds=v["collection.interval"],
                batch_size=v["collection.batch_size"],
                buffer_size=v["collection.buffer_size"],
            ),
            retention=RetentionSettings(
                metrics_seconds=v["retention.metrics"],
                events_seconds=v["retention.events"],
                alerts_seconds=v["retention.alerts"],
            ),
            log_format=v["logging.format"],
            log_level=v["logging.level"],
            config_file=config_file,
        )


def load_config_file(env: Mapping[str, str]) -> tuple[Path | None, dict[str, FileValue]]:
    raw = env.get(CONFIG_FILE_ENV, "").strip()
    if not raw:
        return None, {}
    path = Path(raw)
    return path, read_config_file(path)
