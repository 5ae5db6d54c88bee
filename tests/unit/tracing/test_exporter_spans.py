"""The exporter's processing span continues the traceparent of each sampled event; its histograms carry exemplars."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from wsgiref.util import setup_testing_defaults

import msgspec
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from exporter.http import create_app
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.processor import EventProcessor
from exporter.records import Record
from exporter.span_budget import SpanBudget
from monitoring.cloudevents import CloudEvent, encode_binary, encode_structured
from simulator.platform import PlatformModel
from tests.spans import PARENT_SPAN_ID, SAMPLED_PARENT, TRACE_ID, UNSAMPLED_PARENT, MemoryTracing

TOPIC = "platform.transactions"


def events(count: int, traceparent: str | None) -> list[CloudEvent]:
    made = list(PlatformModel(seed=7).events(count, datetime.now(UTC)))
    return [msgspec.structs.replace(e, traceparent=traceparent) for e in made][:count]


def record(event: CloudEvent, offset: int = 0, *, binary: bool = False) -> Record:
    value, headers = (encode_binary if binary else encode_structured)(event)
    return Record(TOPIC, 0, offset, value, headers)


def processor(registry: CollectorRegistry, tracing: MemoryTracing | None) -> EventProcessor:
    return EventProcessor(
        EventMetrics(registry),
        time.perf_counter,
        business=BusinessMetrics(registry),
        wall_clock=time.time,
        tracer=tracing.tracing.tracer("exporter") if tracing else None,
    )


def test_an_event_of_a_sampled_trace_is_processed_in_a_child_span_of_its_traceparent(
    memory_tracing: MemoryTracing,
) -> None:
    event = events(1, SAMPLED_PARENT)[0]
    assert processor(CollectorRegistry(), memory_tracing).process(record(event, 41)) == event

    (span,) = memory_tracing.named(f"process {TOPIC}")
    assert span.context is not None
    assert span.parent is not None
    assert span.context.trace_id == TRACE_ID
    assert span.parent.span_id == PARENT_SPAN_ID
    assert span.parent.is_remote
    assert span.kind is SpanKind.CONSUMER
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == TOPIC
    assert span.attributes["messaging.kafka.offset"] == 41
    assert span.attributes["cloudevents.event_id"] == event.id
    assert span.attributes["cloudevents.event_type"] == event.type


def test_in_binary_mode_a_plain_traceparent_header_is_continued_too(memory_tracing: MemoryTracing) -> None:
    event = events(1, None)[0]
    value, headers = encode_binary(event)
    processor(CollectorRegistry(), memory_tracing).process(
        Record(TOPIC, 0, 0, value, [*headers, ("traceparent", SAMPLED_PARENT.encode())])
    )
    (span,) = memory_tracing.named(f"process {TOPIC}")
    assert span.context is not None
    assert span.context.trace_id == TRACE_ID


def test_unsampled_and_untraced_events_get_no_span_and_the_same_counts(memory_tracing: MemoryTracing) -> None:
    traced_registry, plain_registry = CollectorRegistry(), CollectorRegistry()
    traced, plain = processor(traced_registry, memory_tracing), processor(plain_registry, None)
    batch = [
        *events(3, UNSAMPLED_PARENT),
        *[msgspec.structs.replace(e, id=f"{e.id}-n") for e in events(3, None)],
        *[msgspec.structs.replace(e, id=f"{e.id}-s") for e in events(3, SAMPLED_PARENT)],
    ]
    for offset, event in enumerate(batch):
        traced.process(record(event, offset, binary=offset % 2 == 1))
        plain.process(record(event, offset, binary=offset % 2 == 1))

    assert len(memory_tracing.named(f"process {TOPIC}")) == 3
    compared = 0
    for family in plain_registry.collect():
        for sample in family.samples:
            if sample.name in ("monitoring_events_consumed_total", "monitoring_event_processing_seconds_count"):
                assert traced_registry.get_sample_value(sample.name, sample.labels) == sample.value
                compared += int(sample.value)
    assert compared == 2 * len(batch)


def _scrape(registry: CollectorRegistry, accept: str | None) -> tuple[str, str]:
    app = create_app(registry, ready=lambda: True)
    environ: dict[str, object] = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET"}
    if accept is not None:
        environ["HTTP_ACCEPT"] = accept
    setup_testing_defaults(environ)
    headers: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: object = None) -> object:
        headers.update(response_headers)
        return lambda data: None

    body: Iterable[bytes] = app(environ, start_response)
    return headers["Content-Type"], b"".join(body).decode()


def test_openmetrics_scrapes_show_the_processing_span_as_the_histogram_exemplar(memory_tracing: MemoryTracing) -> None:
    registry = CollectorRegistry()
    processor(registry, memory_tracing).process(record(events(1, SAMPLED_PARENT)[0]))
    (span,) = memory_tracing.named(f"process {TOPIC}")
    assert span.context is not None

    content_type, text = _scrape(registry, "application/openmetrics-text; version=1.0.0; charset=utf-8")

    assert content_type.startswith("application/openmetrics-text")
    exemplar = f'# {{span_id="{span.context.span_id:016x}",trace_id="{TRACE_ID:032x}"}}'
    processing = [line for line in text.splitlines() if line.startswith("monitoring_event_processing_seconds_bucket")]
    lag = [line for line in text.splitlines() if line.startswith("monitoring_event_lag_seconds_bucket")]
    assert sum(exemplar in line for line in processing) == 1
    assert sum(exemplar in line for line in lag) == 1


def test_the_prometheus_text_format_is_unchanged_by_exemplars() -> None:
    with_exemplars, without = CollectorRegistry(), CollectorRegistry()
    metrics = EventMetrics(with_exemplars), EventMetrics(without)
    metrics[0].processing.labels(TOPIC).observe_with_exemplar(0.003, f"{TRACE_ID:032x}", "00f067aa0ba902b7")
    metrics[1].processing.labels(TOPIC).observe(0.003)

    content_type, text = _scrape(with_exemplars, None)
    assert content_type.startswith("text/plain")
    assert text == _scrape(without, None)[1]
    assert "trace_id" not in text


def test_beyond_the_span_budget_sampled_events_are_processed_untraced(memory_tracing: MemoryTracing) -> None:
    now = [0.0]
    registry = CollectorRegistry()
    traced = EventProcessor(
        EventMetrics(registry),
        time.perf_counter,
        tracer=memory_tracing.tracing.tracer("exporter"),
        span_budget=SpanBudget(2, clock=lambda: now[0]),
    )
    batch = [msgspec.structs.replace(e, id=f"{e.id}-{i}") for i, e in enumerate(events(6, SAMPLED_PARENT))]
    for offset, event in enumerate(batch[:4]):
        traced.process(record(event, offset))
    now[0] += 0.5  # half a second: one more span
    for offset, event in enumerate(batch[4:], start=4):
        traced.process(record(event, offset))

    spans = memory_tracing.named(f"process {TOPIC}")
    assert [(s.attributes or {})["messaging.kafka.offset"] for s in spans] == [0, 1, 4]
    consumed = sum(
        s.value for f in registry.collect() for s in f.samples if s.name == "monitoring_events_consumed_total"
    )
    assert consumed == len(batch)
