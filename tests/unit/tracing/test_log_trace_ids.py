from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from monitoring.logs import configure_logging
from tests.spans import MemoryTracing


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_log_lines_carry_the_trace_and_span_ids_of_the_active_span(
    log_stream: io.StringIO, memory_tracing: MemoryTracing
) -> None:
    log = structlog.get_logger("test")
    with memory_tracing.tracing.tracer("test").start_as_current_span("work") as span:
        log.info("inside")
        logging.getLogger("stdlib").warning("inside too")
    log.info("outside")

    inside, stdlib, outside = (json.loads(line) for line in log_stream.getvalue().splitlines())
    context = span.get_span_context()
    for line in (inside, stdlib):
        assert line["trace_id"] == f"{context.trace_id:032x}"
        assert line["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside
    assert "span_id" not in outside
