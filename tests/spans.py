"""Tracing for tests: the SDK's in-memory span exporter behind the project's own ``Tracing``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from monitoring.tracing import Tracing, configure_tracing

SAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
UNSAMPLED_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
TRACE_ID = int(SAMPLED_PARENT[3:35], 16)
PARENT_SPAN_ID = int(SAMPLED_PARENT[36:52], 16)


@dataclass
class MemoryTracing:
    """A real SDK provider (batch processor and all) exporting into memory."""

    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    tracing: Tracing = field(init=False)

    def __post_init__(self) -> None:
        self.tracing = configure_tracing({}, "test-service", exporters=[self.exporter])

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far (the batch processor is flushed first)."""
        assert self.tracing.provider is not None
        self.tracing.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]


@pytest.fixture
def memory_tracing() -> Iterator[MemoryTracing]:
    made = MemoryTracing()
    yield made
    made.tracing.shutdown()
