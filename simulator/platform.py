"""A deterministic model of the platform's services, producing their domain events.

``PlatformModel(seed).events(n, now)`` yields CloudEvents as the asset, portfolio and
transaction services would publish them: per-aggregate versions that go up by one,
and transactions whose completion is followed by a portfolio update carrying the same
correlation id. The same seed always gives the same events.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitoring import catalogue as c
from monitoring.cloudevents import CloudEvent, new_event
from simulator.traceparents import traceparent_for

CURRENCIES = ("EUR", "USD", "GBP", "CHF")


@dataclass
class PlatformModel:
    seed: int = 0
    success_ratio: float = 0.95
    followup_delay: timedelta = timedelta(milliseconds=200)
    _rng: random.Random = field(init=False)
    _versions: dict[str, int] = field(init=False, default_factory=dict)
    _ids: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - reproducible test data, not crypto

    def _id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self.seed}-{self._ids}"

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _wrap(self, type_: str, aggregate: str, data: c.Payload, at: datetime, correlation: str) -> CloudEvent:
        version = self._versions.get(aggregate, 0) + 1
        self._versions[aggregate] = version
        event_id = self._event_id()
        return new_event(
            id=event_id,
            type=type_,
            source=c.PUBLISHER[type_],
            time=at,
            data=data,
            aggregateid=aggregate,
            aggregateversion=version,
            correlationid=correlation,
            traceparent=traceparent_for(correlation, event_id),
        )

    def events(self, count: int, start: datetime) -> Iterator[CloudEvent]:
        """``count`` scenario steps from ``start``; a step yields one to three events."""
        rng = self._rng
        for step in range(count):
            at = start + timedelta(milliseconds=10 * step)
            correlation = self._event_id()
            roll = rng.random()
            if roll < 0.25:
                asset = self._id("asset")
                cls = rng.choice(list(c.AssetClass))
                value = round(rng.lognormvariate(8, 1.2), 2)
                currency = rng.choice(CURRENCIES)
                yield self._wrap(
                    "AssetCreated",
                    asset,
                    c.AssetCreated(
                        asset_id=asset,
                        asset_class=cls,
                        name=f"{cls.value} {asset}",
                        value=value,
                        currency=currency,
                    ),
                    at,
                    correlation,
                )
                new_value = round(value * (1 + rng.gauss(0, 0.03)), 2)
                yield self._wrap(
                    "AssetValuationChanged",
                    asset,
                    c.AssetValuationChanged(
                        asset_id=asset,
                        asset_class=cls,
                        old_value=value,
                        new_value=max(new_value, 0.0),
                        currency=currency,
                    ),
                    at,
                    correlation,
                )
            else:
                txn = self._id("txn")
                portfolio = f"portfolio-{rng.randrange(50)}"
                kind = rng.choice(list(c.TransactionType))
                amount = round(rng.lognormvariate(6, 1.0), 2)
                currency = rng.choice(CURRENCIES)
                yield self._wrap(
                    "TransactionInitiated",
                    txn,
                    c.TransactionInitiated(
                        transaction_id=txn,
                        portfolio_id=portfolio,
                        transaction_type=kind,
                        amount=amount,
                        currency=currency,
                    ),
                    at,
                    correlation,
                )
                if rng.random() < self.success_ratio:
                    yield self._wrap(
                        "TransactionCompleted",
                        txn,
                        c.TransactionCompleted(
                            transaction_id=txn,
                            portfolio_id=portfolio,
                            transaction_type=kind,
                            amount=amount,
                            currency=currency,
                            processing_seconds=round(rng.gammavariate(2, 0.1), 4),
                        ),
                        at,
                        correlation,
                    )
                    yield self._wrap(
                        "PortfolioPerformanceUpdated",
                        portfolio,
                        c.PortfolioPerformanceUpdated(
                            portfolio_id=portfolio,
                            return_ratio=round(rng.gauss(0.004, 0.02), 5),
                            period="1d",
                        ),
                        at + self.followup_delay,
                        correlation,
                    )
                else:
                    yield self._wrap(
                        "TransactionFailed",
                        txn,
                        c.TransactionFailed(
                            transaction_id=txn,
                            portfolio_id=portfolio,
                            transaction_type=kind,
                            amount=amount,
                            currency=currency,
                            reason=rng.choice(("insufficient_funds", "market_closed", "timeout")),
                        ),
                        at,
                        correlation,
                    )
