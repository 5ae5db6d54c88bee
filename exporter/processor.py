"""Turns records into metric updates. Pure with respect to I/O: the clock is passed in."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from exporter.metrics import EventMetrics
from exporter.records import Record
from monitoring.cloudevents import EventDecodeError, decode, decode_data, is_known_type

log = structlog.get_logger(__name__)


class EventProcessor:
    def __init__(self, metrics: EventMetrics, clock: Callable[[], float]) -> None:
        self._metrics = metrics
        self._clock = clock

    def process(self, record: Record) -> None:
        """Count one record. Bad records are counted with their reason; never raises for bad input."""
        started = self._clock()
        try:
            event = decode(record.value, record.headers)
            if not is_known_type(event.type):
                self._metrics.unknown_types.labels(record.topic).inc()
                return
            decode_data(event)
        except EventDecodeError as exc:
            self._metrics.failed.labels(record.topic, exc.reason.value).inc()
            log.warning(
                "event_rejected",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=exc.reason.value,
                detail=exc.detail[:200],
            )
            return
        self._metrics.consumed.labels(record.topic, event.source, event.type).inc()
        self._metrics.processing.labels(record.topic).observe(self._clock() - started)
