"""Consistency checks across the platform's services.

- Sequence: per (source, aggregateid) the ``aggregateversion`` must go up by one. A jump
  forward is a ``version_gap``, a version below the highest seen is ``out_of_order``, and
  the highest version again under a different event id is a ``duplicate``. (A redelivery,
  the same event id again, is not a violation: it is filtered before the checks.)
- Follow-ups: rules from a YAML file say "when <cause> arrives, expect <followup> with the
  same correlationid within <duration>". A match observes the sync delay (event time of the
  follow-up minus event time of the cause); a timeout counts ``missing_followup``. Pending
  expectations are bounded; the oldest is dropped and counted when the bound is reached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import msgspec
import structlog

from exporter.cardinality import BoundedLabel
from exporter.dedup import SeenIds
from exporter.envelope import Envelope, read_envelope
from exporter.metrics import ConsistencyMetrics
from exporter.processor import SERVICES
from exporter.records import ConsumedRecord
from monitoring.config_files import read_yaml
from monitoring.settings import parse_duration

log = structlog.get_logger(__name__)


class TypedEvent(Protocol):
    """What a pattern looks at: an ``Envelope`` or a whole ``CloudEvent``."""

    @property
    def type(self) -> str: ...

    @property
    def source(self) -> str: ...


class EventPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An event type (or any of several) and, optionally, its source."""

    type: str | tuple[str, ...]
    source: str | None = None

    @property
    def types(self) -> tuple[str, ...]:
        return (self.type,) if isinstance(self.type, str) else self.type

    def matches(self, event: TypedEvent) -> bool:
        return event.type in self.types and (self.source is None or event.source == self.source)


class FollowupRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    cause: EventPattern
    followup: EventPattern
    within: str | float = "30s"

    @property
    def within_seconds(self) -> float:
        return parse_duration(self.within)


class RulesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    followups: list[FollowupRule] = []


DEFAULT_RULES = (
    FollowupRule(
        name="transaction_completed_updates_portfolio",
        cause=EventPattern("TransactionCompleted", "transaction-service"),
        # The portfolio service answers a completed transaction with either event.
        followup=EventPattern(("PortfolioPerformanceUpdated", "PortfolioRebalanced"), "portfolio-service"),
        within="30s",
    ),
)


def load_rules(path: Path | None) -> tuple[FollowupRule, ...]:
    """The follow-up rules of ``path``, or the built-in default; a bad file fails naming the file."""
    if path is None:
        return DEFAULT_RULES
    document = read_yaml(path, "consistency rules")
    try:
        rules = msgspec.convert(document.value or {}, RulesFile)
    except msgspec.ValidationError as exc:
        raise document.validation_error(exc, "consistency rules") from None
    names: set[str] = set()
    for index, rule in enumerate(rules.followups):
        try:
            rule.within_seconds  # noqa: B018 - validates the duration now, not at the first event
        except ValueError as exc:
            raise document.error(("followups", index, "within"), f"rule {rule.name!r}: within: {exc}") from None
        if rule.name in names:
            raise document.error(("followups", index, "name"), f"rule names must be unique, {rule.name!r} repeats")
        names.add(rule.name)
    return tuple(rules.followups)


class SequenceChecker:
    """Remembers the highest version and its event id of the ``capacity`` most recent aggregates."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._last: OrderedDict[tuple[str, str], tuple[int, str]] = OrderedDict()

    def check(self, event: Envelope) -> str | None:
        """The violation kind for ``event``, or None when it is the expected next version."""
        if event.aggregateid is None or event.aggregateversion is None:
            return None
        key = (event.source, event.aggregateid)
        version = event.aggregateversion
        last = self._last.get(key)
        if last is None:
            self._last[key] = (version, event.id)  # a new key goes last: the most recent
            if len(self._last) > self._capacity:
                self._last.popitem(last=False)
            return None
        last_version, last_id = last
        if version > last_version:
            self._last[key] = (version, event.id)
            self._last.move_to_end(key)
            return None if version == last_version + 1 else "version_gap"
        if version == last_version:
            return None if event.id == last_id else "duplicate"
        return "out_of_order"


class _Pending:
    """Expectations of one rule, oldest first; deadlines grow with insertion order."""

    def __init__(self) -> None:
        self.causes: OrderedDict[str, tuple[float, float]] = OrderedDict()  # correlationid -> (event time, deadline)
        self.early: OrderedDict[str, tuple[float, float]] = OrderedDict()  # follow-ups seen before their cause


class FollowupTracker:
    def __init__(
        self,
        rules: Sequence[FollowupRule],
        metrics: ConsistencyMetrics,
        capacity: int,
        clock: Callable[[], float] = time.monotonic,
        source_label: Callable[[str], str] = str,
    ) -> None:
        self._rules = tuple(rules)
        self._metrics = metrics
        self._capacity = capacity
        self._clock = clock
        self._source_label = source_label
        self._pending = {rule.name: _Pending() for rule in self._rules}
        self._within = {rule.name: rule.within_seconds for rule in self._rules}
        self._sync = {rule.name: metrics.sync_delay.labels(rule.name) for rule in self._rules}
        self._overflow = {rule.name: metrics.overflow.labels(rule.name) for rule in self._rules}
        for rule in self._rules:
            metrics.pending.labels(rule.name).set(0)
        # Every event reaches ``observe``: the patterns as sets, and the types that any rule names.
        self._matchers = tuple(
            (r.name, frozenset(r.cause.types), r.cause.source, frozenset(r.followup.types), r.followup.source)
            for r in self._rules
        )
        self._types = frozenset().union(*(m[1] | m[3] for m in self._matchers))

    def observe(self, event: Envelope) -> None:
        """``EventPattern.matches`` for each rule's cause and follow-up, unrolled: it runs for every event."""
        correlation = event.correlationid
        event_type = event.type
        if correlation is None or event_type not in self._types:
            return
        at = event.time.timestamp()
        for name, cause_types, cause_source, followup_types, followup_source in self._matchers:
            pending = self._pending[name]
            if event_type in cause_types and (cause_source is None or event.source == cause_source):
                early = pending.early.pop(correlation, None)
                if early is not None:
                    self._sync[name].observe(max(early[0] - at, 0.0))
                else:
                    self._add(name, pending.causes, correlation, at)
            elif event_type in followup_types and (followup_source is None or event.source == followup_source):
                cause_seen = pending.causes.pop(correlation, None)
                if cause_seen is not None:
                    self._sync[name].observe(max(at - cause_seen[0], 0.0))
                else:
                    self._add(name, pending.early, correlation, at)

    def _add(self, rule: str, table: OrderedDict[str, tuple[float, float]], correlation: str, at: float) -> None:
        table[correlation] = (at, self._clock() + self._within[rule])
        table.move_to_end(correlation)
        if len(table) > self._capacity:
            table.popitem(last=False)
            self._overflow[rule].inc()

    def expire(self) -> None:
        """Count every cause whose follow-up did not arrive in time; forget stale early follow-ups."""
        now = self._clock()
        for rule in self._rules:
            pending = self._pending[rule.name]
            expired = 0
            while pending.causes:
                _, (_, deadline) = next(iter(pending.causes.items()))
                if deadline > now:
                    break
                pending.causes.popitem(last=False)
                expired += 1
            if expired:
                self._metrics.violations.labels("missing_followup", self._source_label(rule.cause.source or "")).inc(
                    expired
                )
                log.info("missing_followup", rule=rule.name, count=expired)
            while pending.early:
                _, (_, deadline) = next(iter(pending.early.items()))
                if deadline > now:
                    break
                pending.early.popitem(last=False)
            self._metrics.pending.labels(rule.name).set(len(pending.causes))


class ConsistencyProcessor:
    """Runs the checks on every record of the consistency consumer; bad records are the main consumer's concern."""

    def __init__(
        self,
        metrics: ConsistencyMetrics,
        rules: Sequence[FollowupRule],
        capacity: int,
        clock: Callable[[], float] = time.monotonic,
        label_limit: int = 20,
    ) -> None:
        self._metrics = metrics
        self._records = metrics.records.labels()
        self._seen = SeenIds(capacity)
        self._sequence = SequenceChecker(capacity)
        self._source_label = BoundedLabel(SERVICES, label_limit)
        self._followups = FollowupTracker(rules, metrics, capacity, clock, self._source_label)

    def process(self, record: ConsumedRecord) -> None:
        self._records.inc()
        event = read_envelope(record.value(), record.headers())
        if event is None:
            return
        if not self._seen.add(event.id):
            return
        kind = self._sequence.check(event)
        if kind is not None:
            self._metrics.violations.labels(kind, self._source_label(event.source)).inc()
            log.info(
                "consistency_violation",
                kind=kind,
                source=event.source,
                aggregateid=event.aggregateid,
                version=event.aggregateversion,
            )
        if kind == "duplicate":
            return  # the same business fact again: it expects no second follow-up
        self._followups.observe(event)

    def expire(self) -> None:
        self._followups.expire()
