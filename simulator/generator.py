"""Turns simulation steps into Kafka records, as the platform's three services would publish them.

``EventGenerator.step(now, faults)`` plays one step (an asset change, a transaction or a
goal update) and returns its records; follow-ups of completed transactions are queued
and come out of ``due(now)`` once their delay has passed. Every record is recorded in
the ``GroundTruth``, and every injected fault with an example id, so a reader of the
topics can check the claim.

Two random streams keep runs comparable: the *traffic* stream (seeded with ``seed``)
decides what the platform does and is never touched by faults; the *fault* stream
(``seed + 1``) decides which opportunities a fault hits and is only drawn from while a
fault's ratio is above zero.
"""

from __future__ import annotations

import heapq
import json
import random
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from monitoring import catalogue as c
from monitoring.cloudevents import DEFAULT_MAX_BYTES, CloudEvent, encode_binary, encode_structured, new_event
from simulator.profile import Faults, Malformation, Profile
from simulator.report import GroundTruth
from simulator.traceparents import traceparent_for

K = TypeVar("K")
Header = tuple[str, bytes]

ASSET_FIELDS = ("name", "description", "risk_rating", "listing", "isin")
FAILURE_REASONS = ("insufficient_funds", "market_closed", "timeout", "limit_exceeded")
BURST_REASON = "upstream_unavailable"
MAX_KNOWN_ASSETS = 500


@dataclass(frozen=True)
class OutRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[Header]


@dataclass(frozen=True)
class _Asset:
    asset_id: str
    asset_class: c.AssetClass
    currency: str
    value: float


@dataclass(frozen=True, order=True)
class _Followup:
    due: float
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    portfolio: str = field(compare=False)
    payload: c.Payload = field(compare=False)
    correlation: str = field(compare=False)
    delay: float = field(compare=False)
    mode: str = field(compare=False)


def topics_for(prefix: str = "") -> dict[str, str]:
    """Service (CloudEvents source) -> topic, e.g. ``transaction-service`` -> ``<prefix>transaction.events``."""
    services = {c.PUBLISHER[name] for name in c.PLATFORM_EVENTS}
    return {service: prefix + topic for service, topic in c.TOPIC_OF_SOURCE.items() if service in services}


class EventGenerator:
    def __init__(self, profile: Profile, seed: int, truth: GroundTruth, topics: Mapping[str, str]) -> None:
        self.profile = profile
        self.truth = truth
        self._topics = dict(topics)
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
        self._fault_rng = random.Random(seed + 1)  # noqa: S311
        self._versions: dict[str, int] = {}
        self._assets: deque[_Asset] = deque(maxlen=MAX_KNOWN_ASSETS)
        self._pending: list[_Followup] = []
        self._ids = 0
        self._malformed = 0

    # --- public ---

    def step(self, now: float, faults: Faults) -> list[OutRecord]:
        kinds = ("asset_created", "asset_modified", "asset_valuation", "transaction", "goal_progress")
        mix = self.profile.mix
        kind = self._weighted(dict(zip(kinds, (getattr(mix, k) for k in kinds), strict=True)))
        at = datetime.fromtimestamp(now, UTC)
        if kind in ("asset_modified", "asset_valuation") and not self._assets:
            kind = "asset_created"
        match kind:
            case "asset_created":
                records = self._asset_created(at, faults)
            case "asset_modified":
                records = self._asset_modified(at, faults)
            case "asset_valuation":
                records = self._asset_valuation(at, faults)
            case "transaction":
                records = self._transaction(now, at, faults)
            case _:
                records = self._goal_progress(at, faults)
        if self._chance(faults.malformed):
            records.append(self._malformed_record(self._fault_rng.choice(faults.malformed_kinds)))
        return records

    def due(self, now: float) -> list[OutRecord]:
        """Follow-ups whose time has come, in due order."""
        out = []
        while self._pending and self._pending[0].due <= now:
            out.append(self._release(heapq.heappop(self._pending)))
        return out

    def next_due(self) -> float | None:
        return self._pending[0].due if self._pending else None

    def abandon(self) -> list[str]:
        """Forget queued follow-ups (the run was stopped); returns their correlation ids."""
        abandoned = [f.correlation for f in sorted(self._pending)]
        self._pending.clear()
        return abandoned

    # --- steps ---

    def _asset_created(self, at: datetime, faults: Faults) -> list[OutRecord]:
        rng = self._rng
        asset_id = self._id("asset")
        cls = self._weighted(self.profile.asset_classes)
        currency = self._weighted(self.profile.currencies)
        value = round(rng.lognormvariate(8, 1.2), 2)
        self._assets.append(_Asset(asset_id, cls, currency, value))
        payload = c.AssetCreated(
            asset_id=asset_id, asset_class=cls, name=f"{cls.value} {asset_id}", value=value, currency=currency
        )
        return self._single("AssetCreated", asset_id, payload, at, faults)

    def _asset_modified(self, at: datetime, faults: Faults) -> list[OutRecord]:
        rng = self._rng
        asset = rng.choice(self._assets)
        changed = sorted(rng.sample(ASSET_FIELDS, rng.randint(1, 3)))
        payload = c.AssetModified(asset_id=asset.asset_id, asset_class=asset.asset_class, changed_fields=changed)
        return self._single("AssetModified", asset.asset_id, payload, at, faults)

    def _asset_valuation(self, at: datetime, faults: Faults) -> list[OutRecord]:
        rng = self._rng
        index = rng.randrange(len(self._assets))
        asset = self._assets[index]
        new_value = max(round(asset.value * (1 + rng.gauss(0, 0.03)), 2), 0.0)
        self._assets[index] = _Asset(asset.asset_id, asset.asset_class, asset.currency, new_value)
        payload = c.AssetValuationChanged(
            asset_id=asset.asset_id,
            asset_class=asset.asset_class,
            old_value=asset.value,
            new_value=new_value,
            currency=asset.currency,
        )
        return self._single("AssetValuationChanged", asset.asset_id, payload, at, faults)

    def _goal_progress(self, at: datetime, faults: Faults) -> list[OutRecord]:
        rng = self._rng
        portfolio = f"portfolio-{rng.randrange(self.profile.portfolios)}"
        progress = round(rng.uniform(0, 1.2), 4)
        payload = c.PortfolioGoalProgressUpdated(
            portfolio_id=portfolio,
            goal_id=f"goal-{portfolio}-{rng.randrange(3)}",
            progress_ratio=progress,
            achieved=progress >= 1.0,
        )
        return self._single("PortfolioGoalProgressUpdated", portfolio, payload, at, faults)

    def _transaction(self, now: float, at: datetime, faults: Faults) -> list[OutRecord]:
        rng, p = self._rng, self.profile
        txn = self._id("txn")
        correlation = self._uuid(rng)
        portfolio = f"portfolio-{rng.randrange(p.portfolios)}"
        kind = self._weighted(p.transaction_types)
        amount = round(rng.lognormvariate(p.amount_mu, p.amount_sigma), 2)
        currency = self._weighted(p.currencies)
        succeeded = rng.random() < p.success_ratio
        processing = round(rng.gammavariate(p.processing_shape, p.processing_scale), 4)
        reason = rng.choice(FAILURE_REASONS)
        rebalance = rng.random() < p.rebalance_ratio
        followup_id = self._uuid(rng)
        return_ratio = round(rng.gauss(0.004, 0.02), 5)
        trades = rng.randint(1, 12)

        if succeeded and self._chance(faults.failure_burst):
            succeeded, reason = False, BURST_REASON
            self.truth.inject("failure_burst", txn)
        initiated = c.TransactionInitiated(
            transaction_id=txn, portfolio_id=portfolio, transaction_type=kind, amount=amount, currency=currency
        )
        second: c.Payload
        if succeeded:
            second = c.TransactionCompleted(
                transaction_id=txn,
                portfolio_id=portfolio,
                transaction_type=kind,
                amount=amount,
                currency=currency,
                processing_seconds=processing,
            )
        else:
            second = c.TransactionFailed(
                transaction_id=txn,
                portfolio_id=portfolio,
                transaction_type=kind,
                amount=amount,
                currency=currency,
                reason=reason,
            )
        second_type = "TransactionCompleted" if succeeded else "TransactionFailed"

        first_event = self._wrap("TransactionInitiated", txn, initiated, at, correlation)
        gap = 0
        swap = self._chance(faults.out_of_order)
        if not swap and self._chance(faults.version_gap):
            gap = 1
            self.truth.inject("version_gap", f"{txn}@{self._versions[txn] + 1}")
        second_event = self._wrap(second_type, txn, second, at, correlation, skip=gap)
        pair = [first_event, second_event]
        if swap:
            pair.reverse()
            self.truth.inject("out_of_order", txn)
        records = [r for event in pair for r in self._emit_with_duplicates(event, faults)]

        self.truth.transaction(str(kind), "initiated", currency, amount)
        self.truth.transaction(str(kind), "completed" if succeeded else "failed", currency, amount)
        if succeeded:
            self.truth.processing(processing)
            self._schedule_followup(
                now, portfolio, correlation, followup_id, rebalance, return_ratio, trades, txn, faults
            )
        return records

    def _schedule_followup(
        self,
        now: float,
        portfolio: str,
        correlation: str,
        event_id: str,
        rebalance: bool,
        return_ratio: float,
        trades: int,
        txn: str,
        faults: Faults,
    ) -> None:
        mode = self._mode()
        if self._chance(faults.drop_followup):
            self.truth.inject("missing_followup", correlation)
            return
        delay = self.profile.followup_delay + faults.downstream_delay
        if faults.downstream_delay > 0:
            self.truth.inject("downstream_delay", correlation)
        payload: c.Payload
        if rebalance:
            event_type = "PortfolioRebalanced"
            payload = c.PortfolioRebalanced(portfolio_id=portfolio, trades=trades, reason=f"transaction {txn}")
        else:
            event_type = "PortfolioPerformanceUpdated"
            payload = c.PortfolioPerformanceUpdated(portfolio_id=portfolio, return_ratio=return_ratio, period="1d")
        self._ids += 1
        heapq.heappush(
            self._pending,
            _Followup(now + delay, self._ids, event_id, event_type, portfolio, payload, correlation, delay, mode),
        )

    def _release(self, followup: _Followup) -> OutRecord:
        at = datetime.fromtimestamp(followup.due, UTC)
        event = self._wrap(
            followup.event_type,
            followup.portfolio,
            followup.payload,
            at,
            followup.correlation,
            event_id=followup.event_id,
        )
        self.truth.followup(followup.delay)
        return self._emit(event, followup.mode)

    # --- envelopes and records ---

    def _single(
        self, event_type: str, aggregate: str, payload: c.Payload, at: datetime, faults: Faults
    ) -> list[OutRecord]:
        event = self._wrap(event_type, aggregate, payload, at, self._uuid(self._rng))
        return self._emit_with_duplicates(event, faults)

    def _wrap(
        self,
        event_type: str,
        aggregate: str,
        payload: c.Payload,
        at: datetime,
        correlation: str,
        *,
        skip: int = 0,
        event_id: str | None = None,
    ) -> CloudEvent:
        version = self._versions.get(aggregate, 0) + 1 + skip
        self._versions[aggregate] = version
        event_id = event_id or self._uuid(self._rng)
        return new_event(
            id=event_id,
            type=event_type,
            source=c.PUBLISHER[event_type],
            time=at,
            data=payload,
            aggregateid=aggregate,
            aggregateversion=version,
            correlationid=correlation,
            traceparent=traceparent_for(correlation, event_id),
        )

    def _emit_with_duplicates(self, event: CloudEvent, faults: Faults) -> list[OutRecord]:
        record = self._emit(event, self._mode())
        if not self._chance(faults.duplicate):
            return [record]
        self.truth.inject("duplicate", event.id)
        self.truth.record(record.topic)
        return [record, record]

    def _emit(self, event: CloudEvent, mode: str) -> OutRecord:
        value, headers = encode_structured(event) if mode == "structured" else encode_binary(event)
        topic = self._topics[event.source]
        self.truth.event(event.type, topic, mode)
        return OutRecord(topic, (event.aggregateid or "").encode(), value, headers)

    def _mode(self) -> str:
        mode = self.profile.content_mode
        if mode == "mixed":
            return "structured" if self._rng.random() < 0.5 else "binary"
        return mode

    def _malformed_record(self, kind: Malformation) -> OutRecord:
        self._malformed += 1
        key = f"malformed-{self._seed}-{self._malformed}"
        envelope: dict[str, object] = {
            "specversion": "1.0",
            "id": self._uuid(self._fault_rng),
            "source": "transaction-service",
            "type": "TransactionInitiated",
            "time": "2026-01-01T00:00:00+00:00",
            "datacontenttype": "application/json",
            "aggregateid": key,
            "aggregateversion": 1,
            "data": {"transaction_id": key},
        }
        match kind:
            case Malformation.INVALID_JSON:
                value = json.dumps(envelope).encode()[:40]
            case Malformation.MISSING_ATTRIBUTE:
                del envelope["source"]
                value = json.dumps(envelope).encode()
            case Malformation.WRONG_TYPE:
                envelope["aggregateversion"] = "seven"
                value = json.dumps(envelope).encode()
            case Malformation.OVERSIZED:
                envelope["data"] = {"transaction_id": key, "padding": "x" * DEFAULT_MAX_BYTES}
                value = json.dumps(envelope).encode()
        topic = self._topics["transaction-service"]
        self.truth.inject(f"malformed_{kind.value}", key)
        self.truth.record(topic)
        return OutRecord(topic, key.encode(), value, [("content-type", b"application/cloudevents+json")])

    # --- randomness ---

    def _chance(self, ratio: float) -> bool:
        return ratio > 0 and self._fault_rng.random() < ratio

    def _weighted(self, weights: Mapping[K, float]) -> K:
        keys = list(weights)
        return self._rng.choices(keys, weights=[weights[k] for k in keys])[0]

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._seed}-{self._ids}"

    @staticmethod
    def _uuid(rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
