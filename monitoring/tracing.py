"""Distributed tracing: the OpenTelemetry SDK, configured by the standard ``OTEL_*`` variables.

``configure_tracing(environ, default_service_name)`` decides whether tracing is on and builds
the SDK's ``TracerProvider``; the SDK itself reads the details (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_EXPORTER_OTLP_*``,
``OTEL_BSP_*``, span limits). The decision, for operators:

- ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: off;
- ``OTEL_TRACES_EXPORTER`` unset and no OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``): off, so a stack without a collector sends nothing
  and pays nothing (the SDK's default would retry ``localhost:4318`` forever);
- otherwise on, with ``OTEL_TRACES_EXPORTER`` (default ``otlp``; ``console`` and
  ``otlp,console`` too). Only the OTLP/HTTP protobuf protocol is shipped.

Spans leave through a ``BatchSpanProcessor`` on its own thread: an unreachable collector costs a
logged warning per batch, never a request or an event. ``Tracing.shutdown`` flushes.

Providers are passed in, never installed globally by library code, so tests inject one with an
``InMemorySpanExporter``. The W3C ``traceparent`` helpers below carry context through Kafka
records and the receiver's outbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, Tracer

from monitoring.settings import ConfigError

EXPORTERS = ("otlp", "console", "none")
OTLP_PROTOCOL = "http/protobuf"
# version 00 only (what this stack writes and reads): version-trace_id-parent_id-flags, lowercase hex
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass(frozen=True)
class Tracing:
    """The process's tracer provider, or none when tracing is off (then every tracer is a no-op)."""

    provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def tracer(self, name: str) -> Tracer:
        if self.provider is None:
            return trace.NoOpTracer()
        return self.provider.get_tracer(name)

    def shutdown(self) -> None:
        """Flush the spans still queued and stop the export thread."""
        if self.provider is not None:
            self.provider.shutdown()


def exporters_from(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters the environment asks for; empty when tracing is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if raw:
        names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
        unknown = [n for n in names if n not in EXPORTERS]
        if unknown:
            expected = ", ".join(EXPORTERS)
            raise ConfigError(f"OTEL_TRACES_EXPORTER: unsupported {', '.join(unknown)} (expected {expected})")
        if "none" in names:
            return ()
    else:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        names = ("otlp",) if endpoint else ()
    if "otlp" in names:
        for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            protocol = environ.get(variable, "").strip()
            if protocol and protocol != OTLP_PROTOCOL:
                raise ConfigError(f"{variable}: only {OTLP_PROTOCOL} is supported, got {protocol!r}")
            if protocol:
                break
    return names


def configure_tracing(
    environ: Mapping[str, str],
    default_service_name: str,
    exporters: Sequence[SpanExporter] | None = None,
) -> Tracing:
    """Build the provider the environment asks for (``exporters`` replaces the environment's choice)."""
    if exporters is None:
        exporters = [_exporter(name) for name in exporters_from(environ)]
    if not exporters:
        return Tracing()
    provider = TracerProvider(resource=service_resource(default_service_name))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)


def service_resource(default_service_name: str) -> Resource:
    """The SDK's resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), named by default."""
    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        return detected.merge(Resource({SERVICE_NAME: default_service_name}))
    return detected


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: the SDK reads OTEL_EXPORTER_OTLP_*


# --- W3C trace context as one string (CloudEvents' traceparent attribute, the outbox column) ---


def format_traceparent(span_context: SpanContext) -> str:
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the active span, or None when there is none (or tracing is off)."""
    span_context = trace.get_current_span().get_span_context()
    return format_traceparent(span_context) if span_context.is_valid else None


def parse_traceparent(value: str | None) -> SpanContext | None:
    """The remote span context in a ``traceparent``, or None when absent or malformed."""
    if value is None:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def context_from_traceparent(value: str | None) -> Context | None:
    """A context whose parent is the span in ``value``; None (a new root) when there is none."""
    span_context = parse_traceparent(value)
    if span_context is None:
        return None
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def is_sampled(value: str | None) -> bool:
    """Whether ``value`` is a well-formed traceparent whose sampled flag is set (cheap: no parsing)."""
    return value is not None and len(value) == 55 and value[-1] in "13579bdf"
