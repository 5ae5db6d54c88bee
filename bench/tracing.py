"""What tracing costs the exporter's hot path, on the real local broker.

The exporter path of bench/exporter.py (consume, decode, validate, dedup, metrics, commit)
with tracing off against the same path with a real SDK provider, in interleaved rounds: a ``BatchSpanProcessor``
whose exporter encodes every batch to OTLP protobuf, as the OTLP/HTTP exporter does, and then
drops it (the network and the collector are not this process's cost). Two topics:

- the simulator's traffic, where a flow's traceparent is sampled for ``SAMPLE_RATIO`` of flows:
  only those events get a processing span and exemplars;
- every event's traceparent sampled: the worst case, bounded by the exporter's span budget
  (EXPORTER_TRACE_RATE), and without the budget (one span per event) to show why it exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from bench.exporter import _exporter_loop
from bench.kafka_fill import delete_topics, fill
from bench.report import Result
from bench.rounds import Samples, interleave
from exporter.config import ExporterConfig
from exporter.span_budget import SpanBudget
from monitoring.cloudevents import encode_binary, encode_structured
from monitoring.tracing import Tracing, configure_tracing
from simulator.platform import PlatformModel
from simulator.traceparents import SAMPLE_RATIO
from tests.services import kafka_brokers

DEFAULT_TRACE_RATE = ExporterConfig.trace_rate  # EXPORTER_TRACE_RATE's default
EVENTS = 300_000


class EncodingExporter(SpanExporter):
    """Encodes each batch as the OTLP exporter would send it, then drops it."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _fill_all_sampled(brokers: str, topic: str, count: int) -> None:
    base = list(PlatformModel(seed=98).events(4000, datetime.now(UTC)))
    producer = Producer({"bootstrap.servers": brokers, "linger.ms": 50, "batch.size": 1_000_000})
    for i in range(count):
        event = base[i % len(base)]
        sampled = (event.traceparent or "")[:-2] + "01"
        event = msgspec.structs.replace(event, id=f"{event.id}-{i // len(base)}", traceparent=sampled)
        value, headers = (encode_structured if i % 2 else encode_binary)(event)
        while True:
            try:
                producer.produce(topic, value=value, key=(event.aggregateid or "").encode(), headers=list(headers))
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def _traced_rate(brokers: str, topic: str, count: int, budget: SpanBudget | None) -> tuple[float, int]:
    exporter = EncodingExporter()
    tracing: Tracing = configure_tracing({}, "bench-exporter", exporters=[exporter])
    try:
        rate = _exporter_loop(brokers, topic, count, None, tracing.tracer("exporter"), budget)[0]
    finally:
        tracing.shutdown()
    return rate, exporter.spans


def run() -> list[Result]:
    brokers = kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    simulated, sampled = (f"bench.tracing.{uuid.uuid4().hex[:10]}" for _ in range(2))
    for topic in (simulated, sampled):
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    samples = Samples()
    spans: dict[str, int] = {}

    def traced(name: str, topic: str, count: int, budget: SpanBudget | None) -> None:
        rate, spans[name] = _traced_rate(brokers, topic, count, budget)
        samples.add(name, rate)

    try:
        fill(brokers, simulated, EVENTS)
        _fill_all_sampled(brokers, sampled, EVENTS)
        interleave(
            [
                lambda: samples.add("off", _exporter_loop(brokers, simulated, EVENTS, None)[0]),
                lambda: traced("on", simulated, EVENTS, SpanBudget(DEFAULT_TRACE_RATE)),
                lambda: traced("every", sampled, EVENTS, SpanBudget(DEFAULT_TRACE_RATE)),
                # no budget: one span per event is slow, so a tenth of the events
                lambda: traced("unlimited", sampled, EVENTS // 10, None),
            ]
        )
    finally:
        delete_topics(brokers, [simulated, sampled, f"{simulated}.dlq", f"{sampled}.dlq"])
    budget = f"budget {DEFAULT_TRACE_RATE} spans/s"
    return [
        Result(
            f"exporter, tracing on, {SAMPLE_RATIO:.0%} of flows sampled, {budget} ({spans['on']:,} spans)",
            samples["on"],
            "events/s",
            "the same, tracing off",
            samples["off"],
            ">= 0.9x and >= 50,000 events/s",
        ),
        Result(
            f"exporter, tracing on, every event sampled, {budget} ({spans['every']:,} spans)",
            samples["every"],
            "events/s",
            "simulated traffic, tracing off",
            samples["off"],
            ">= 0.9x and >= 50,000 events/s",
        ),
        Result(
            f"exporter, tracing on, every event sampled, no budget ({spans['unlimited']:,} spans)",
            samples["unlimited"],
            "events/s",
            "simulated traffic, tracing off",
            samples["off"],
            "why the budget: for information",
        ),
    ]
