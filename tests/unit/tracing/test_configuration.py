from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog
from opentelemetry.trace import NoOpTracer

from monitoring.settings import ConfigError
from monitoring.tracing import (
    configure_tracing,
    context_from_traceparent,
    exporters_from,
    format_traceparent,
    is_sampled,
    parse_traceparent,
    service_resource,
)
from ops.cli import main
from tests.services import free_port
from tests.spans import SAMPLED_PARENT, UNSAMPLED_PARENT


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"},
        {"OTEL_SERVICE_NAME": "exporter"},
    ],
)
def test_tracing_is_off_without_an_exporter_or_an_endpoint(environ: dict[str, str]) -> None:
    tracing = configure_tracing(environ, "monitoring-test")
    assert not tracing.enabled
    assert isinstance(tracing.tracer("x"), NoOpTracer)
    tracing.shutdown()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://jaeger:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        (
            {"OTEL_TRACES_EXPORTER": "otlp, console", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ("otlp", "console"),
        ),
    ],
)
def test_an_endpoint_or_an_explicit_exporter_turns_tracing_on(
    environ: dict[str, str], expected: tuple[str, ...]
) -> None:
    assert exporters_from(environ) == expected


def test_an_unknown_exporter_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: unsupported zipkin"):
        exporters_from({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_the_grpc_protocol_is_refused_because_only_otlp_http_is_shipped() -> None:
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf"):
        exporters_from({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_the_service_name_defaults_to_the_deployable_unless_otel_service_name_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert service_resource("monitoring-exporter").attributes["service.name"] == "monitoring-exporter"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "exporter-eu-1")
    assert service_resource("monitoring-exporter").attributes["service.name"] == "exporter-eu-1"


def test_a_traceparent_round_trips_through_a_span_context() -> None:
    span_context = parse_traceparent(SAMPLED_PARENT)
    assert span_context is not None
    assert span_context.is_remote
    assert span_context.trace_flags.sampled
    assert format_traceparent(span_context) == SAMPLED_PARENT


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
    ],
)
def test_a_missing_or_malformed_traceparent_gives_no_parent(value: str | None) -> None:
    assert parse_traceparent(value) is None
    assert context_from_traceparent(value) is None


def test_only_a_traceparent_with_the_sampled_flag_counts_as_sampled() -> None:
    assert is_sampled(SAMPLED_PARENT)
    assert not is_sampled(UNSAMPLED_PARENT)
    assert not is_sampled(None)
    assert not is_sampled("garbage-01")


def test_an_unreachable_collector_costs_nothing_but_a_failed_export(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()  # nothing listens there
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    tracing = configure_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}"}, "monitoring-test")
    assert tracing.enabled
    with tracing.tracer("test").start_as_current_span("work") as span:
        assert span.is_recording()
    tracing.shutdown()  # flushes: the export fails, is logged, and nothing raises


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``monitoring exporter`` configures logging before it reads the tracing variables: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("command", ["exporter", "receiver"])
def test_a_bad_otel_variable_stops_either_service_at_start_naming_it(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    monkeypatch.setenv("EXPORTER_PORT", str(free_port()))
    monkeypatch.delenv("KAFKA_BROKERS", raising=False)
    assert main([command]) == 2
    assert "OTEL_TRACES_EXPORTER: unsupported jaeger" in capsys.readouterr().err
