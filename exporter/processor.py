"""Turns records into metric updates. Pure with respect to I/O: clocks and the dead-letter sink are passed in.

With a tracer, an event whose ``traceparent`` is sampled is processed inside a child span of
it ("process <topic>"), and that span is the exemplar of its lag and processing observations.
Events of unsampled traces, or without one, take the untraced path: the producer's sampling
decision is followed, so the cost is paid only for the traces that will be kept, and a
``SpanBudget`` caps the spans per second whatever the producers sample.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer

from exporter.cardinality import BoundedLabel
from exporter.dedup import SeenIds
from exporter.metrics import BusinessMetrics, EventMetrics
from exporter.records import ConsumedRecord
from exporter.span_budget import SpanBudget
from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, EventDecodeError, decode, decode_data, is_known_type
from monitoring.tracing import context_from_traceparent, is_sampled

log = structlog.get_logger(__name__)

SERVICES = tuple(sorted(set(c.PUBLISHER.values())))
# An event time further than this from the wall clock is bad input (reason ``time_out_of_range``):
# clocks drift by seconds, retention keeps weeks; a year 1 or 9999 timestamp would skew lag and retention.
MAX_FUTURE_SECONDS = 3600.0
MAX_AGE_SECONDS = 366 * 86400.0
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY")


class DeadLetters(Protocol):
    """Where records that cannot be processed go (``<topic>.dlq`` on Kafka)."""

    def send(self, record: ConsumedRecord, reason: str, detail: str) -> None: ...


class DiscardDeadLetters:
    """For the in-process source: rejected records are counted and logged only."""

    def send(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        return None


class _Children(dict[Any, Any]):
    """Label children by key, each made once by ``make(key)``: ``.labels()`` is the costly part of an
    update, and a hit is a plain dict lookup (``children[key]``)."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: Any) -> Any:
        child = self[key] = self._make(key)
        return child


Series = tuple[Any, Any, Any, Callable[[Any], None] | None]


class EventProcessor:
    def __init__(
        self,
        metrics: EventMetrics,
        clock: Callable[[], float],
        *,
        business: BusinessMetrics | None = None,
        seen: SeenIds | None = None,
        dead_letters: DeadLetters | None = None,
        wall_clock: Callable[[], float] | None = None,
        label_limit: int = 20,
        tracer: Tracer | None = None,
        span_budget: SpanBudget | None = None,
    ) -> None:
        self._metrics = metrics
        self._tracer = tracer  # None: tracing off, and not a single call per event for it
        self._span_budget = span_budget  # None: no cap
        self._clock = clock
        self._wall_clock = wall_clock
        self._seen = seen
        self._dead_letters = dead_letters or DiscardDeadLetters()
        self._source_label = BoundedLabel(SERVICES, label_limit)
        self._currency_label = BoundedLabel(CURRENCIES, label_limit)
        self._consumed = metrics.consumed.labels  # stream metrics: labels() is a dict lookup
        self._processing = metrics.processing.labels
        self._lag = metrics.lag.labels
        self._duplicates = _Children(metrics.duplicates.labels)
        self._unknown_types = _Children(metrics.unknown_types.labels)
        self._series: dict[tuple[str, str, str], Series] = {}
        self._handlers: dict[str, Callable[[Any], None]] = {}
        if business is not None:
            self._business = business
            self._asset_created = _Children(lambda kind: business.asset_created.labels(kind.value))
            self._asset_modified = _Children(lambda kind: business.asset_modified.labels(kind.value))
            self._valuation = _Children(lambda kind: business.asset_valuation_change.labels(kind.value))
            self._returns = _Children(business.portfolio_return.labels)
            self._transactions = _Children(lambda key: business.transactions.labels(key[0].value, key[1]))
            self._amount: dict[tuple[c.TransactionType, str], Any] = {}
            self._txn_seconds = _Children(lambda kind: business.transaction_processing.labels(kind.value))
            self._handlers = {
                "AssetCreated": self._on_asset_created,
                "AssetModified": self._on_asset_modified,
                "AssetValuationChanged": self._on_valuation_changed,
                "PortfolioRebalanced": self._on_rebalanced,
                "PortfolioPerformanceUpdated": self._on_performance,
                "PortfolioGoalProgressUpdated": self._on_goal_progress,
                "TransactionInitiated": self._on_transaction_initiated,
                "TransactionCompleted": self._on_transaction_completed,
                "TransactionFailed": self._on_transaction_failed,
            }

    def process(self, record: ConsumedRecord) -> CloudEvent | None:
        """Count one record and return its event, or None when it was rejected, unknown or a redelivery.

        Bad records are counted with their reason and sent to the dead letters; never raises for bad input.
        """
        started = self._clock()
        try:
            event = decode(record.value(), record.headers())
            if not is_known_type(event.type):
                self._unknown_types[record.topic() or ""].inc()
                return None
            payload = decode_data(event)
        except EventDecodeError as exc:
            self.reject(record, exc.reason.value, exc.detail)
            return None
        wall_clock = self._wall_clock
        age = wall_clock() - event.time.timestamp() if wall_clock is not None else None
        if age is not None and not -MAX_FUTURE_SECONDS <= age <= MAX_AGE_SECONDS:
            self.reject(record, "time_out_of_range", f"time {event.time.isoformat()} is too far from now")
            return None
        topic = record.topic() or ""
        if self._seen is not None and not self._seen.add(event.id):
            self._duplicates[topic].inc()
            return None
        series = self._series.get((topic, event.source, event.type))
        if series is None:
            series = self._bounded_series(topic, event.source, event.type)
        if (
            self._tracer is not None
            and is_sampled(event.traceparent)
            and (self._span_budget is None or self._span_budget.take())
        ):
            parent = context_from_traceparent(event.traceparent)
            if parent is not None:
                self._process_traced(self._tracer, parent, record, event, payload, series, started)
                return event
        consumed, lag, processing, handler = series
        if age is not None:
            lag.observe(age if age > 0.0 else 0.0)
        if handler is not None:
            handler(payload)
        processing.observe(self._clock() - started)
        # Last, so that a scrape seeing an event consumed also sees all of its other updates.
        consumed.inc()
        return event

    def _process_traced(
        self,
        tracer: Tracer,
        parent: Context,
        record: ConsumedRecord,
        event: CloudEvent,
        payload: Any,
        series: Series,
        started: float,
    ) -> None:
        """``process`` for an event of a sampled trace: the same updates, inside a child span of the
        event's ``traceparent``, with the span as the histograms' exemplar."""
        consumed, lag, processing, handler = series
        span = tracer.start_span(
            f"process {record.topic()}",
            context=parent,
            kind=SpanKind.CONSUMER,
            start_time=time.time_ns() - int((self._clock() - started) * 1e9),  # decoding is part of it
            attributes={  # few: each one costs on the hot path and again in the export
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic() or "",
                "messaging.destination.partition.id": str(record.partition()),
                "messaging.kafka.offset": record.offset() or 0,
                "cloudevents.event_id": event.id,
                "cloudevents.event_type": event.type,
            },
        )
        # Not made current: the handlers only update metrics, and attaching a context costs.
        try:
            if not span.is_recording():  # a sampler that drops it: no exemplar pointing at nothing
                if self._wall_clock is not None:
                    lag.observe(max(self._wall_clock() - event.time.timestamp(), 0.0))
                if handler is not None:
                    handler(payload)
                processing.observe(self._clock() - started)
                consumed.inc()
                return
            span_context = span.get_span_context()
            trace_id, span_id = f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"
            if self._wall_clock is not None:
                lag.observe_with_exemplar(max(self._wall_clock() - event.time.timestamp(), 0.0), trace_id, span_id)
            if handler is not None:
                handler(payload)
            processing.observe_with_exemplar(self._clock() - started, trace_id, span_id)
            consumed.inc()
        finally:
            span.end()

    def _bounded_series(self, topic: str, raw_source: str, event_type: str) -> Series:
        """The label children one (topic, source, type) updates, created once and cached under the
        bounded source: a producer inventing sources takes this slower path, never a new cache entry."""
        source = self._source_label(raw_source)
        key = (topic, source, event_type)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self._consumed(topic, source, event_type),
                self._lag(source, event_type),
                self._processing(topic),
                self._handlers.get(event_type),
            )
        return series

    def reject(self, record: ConsumedRecord, reason: str, detail: str) -> None:
        topic = record.topic() or ""
        self._metrics.failed.labels(topic, reason).inc()
        log.warning(
            "event_rejected",
            topic=topic,
            partition=record.partition(),
            offset=record.offset(),
            reason=reason,
            detail=detail[:200],
        )
        self._dead_letters.send(record, reason, detail)
        self._metrics.dead_lettered.labels(topic).inc()

    # --- business metrics, one handler per platform event type; label children by enum member ---

    def _on_asset_created(self, p: c.AssetCreated) -> None:
        self._asset_created[p.asset_class].inc()

    def _on_asset_modified(self, p: c.AssetModified) -> None:
        self._asset_modified[p.asset_class].inc()

    def _on_valuation_changed(self, p: c.AssetValuationChanged) -> None:
        if p.old_value > 0:
            self._valuation[p.asset_class].observe((p.new_value - p.old_value) / p.old_value)

    def _on_rebalanced(self, p: c.PortfolioRebalanced) -> None:
        self._business.portfolio_rebalances.inc()

    def _on_performance(self, p: c.PortfolioPerformanceUpdated) -> None:
        self._returns[p.period].observe(p.return_ratio)

    def _on_goal_progress(self, p: c.PortfolioGoalProgressUpdated) -> None:
        self._business.portfolio_goal_progress.observe(p.progress_ratio)
        if p.achieved:
            self._business.portfolio_goals_achieved.inc()

    def _on_transaction_initiated(self, p: c.TransactionInitiated) -> None:
        self._transactions[p.transaction_type, "initiated"].inc()

    def _on_transaction_completed(self, p: c.TransactionCompleted) -> None:
        kind = p.transaction_type
        self._transactions[kind, "completed"].inc()
        amount = self._amount.get((kind, p.currency))
        if amount is None:
            amount = self._amount_child(kind, p.currency)
        amount.inc(p.amount)
        self._txn_seconds[kind].observe(p.processing_seconds)

    def _amount_child(self, kind: c.TransactionType, raw_currency: str) -> Any:
        """The amount child of a currency, cached only under an admitted currency: a producer inventing
        currencies takes this path every time, never a new cache entry."""
        currency = self._currency_label(raw_currency)
        child = self._business.transaction_amount.labels(kind.value, currency)
        if currency == raw_currency:
            self._amount[kind, raw_currency] = child
        return child

    def _on_transaction_failed(self, p: c.TransactionFailed) -> None:
        self._transactions[p.transaction_type, "failed"].inc()
