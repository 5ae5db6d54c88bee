"""What the simulated platform does: traffic shape (``Profile``) and injected faults (``Faults``).

Both are frozen msgspec Structs, so a scenario file or a control request becomes a
validated object at the boundary (unknown keys and wrong types are rejected with the
field's path). Durations are seconds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from monitoring import catalogue as c

UnitRatio = Annotated[float, Meta(ge=0, le=1)]
Seconds = Annotated[float, Meta(ge=0)]
Weight = Annotated[float, Meta(ge=0)]


class Malformation(StrEnum):
    """Kinds of malformed record; the values match ``monitoring.cloudevents.DecodeFailure``."""

    INVALID_JSON = "invalid_json"
    MISSING_ATTRIBUTE = "missing_attribute"
    WRONG_TYPE = "wrong_type"
    OVERSIZED = "oversized"


class Mix(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Relative weights of the kinds of step; a step yields one to three events."""

    asset_created: Weight = 0.12
    asset_modified: Weight = 0.04
    asset_valuation: Weight = 0.12
    transaction: Weight = 0.64
    goal_progress: Weight = 0.08


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Traffic shape: step rate, mix and value distributions."""

    rate: Annotated[float, Meta(gt=0)] = 50.0
    mix: Mix = Mix()
    asset_classes: dict[c.AssetClass, Weight] = msgspec.field(
        default_factory=lambda: {
            c.AssetClass.EQUITY: 5,
            c.AssetClass.BOND: 2,
            c.AssetClass.FUND: 2,
            c.AssetClass.ETF: 3,
            c.AssetClass.CASH: 1,
            c.AssetClass.CRYPTO: 1,
            c.AssetClass.REAL_ESTATE: 0.5,
            c.AssetClass.COMMODITY: 0.5,
        }
    )
    currencies: dict[str, Weight] = msgspec.field(default_factory=lambda: {"EUR": 5, "USD": 4, "GBP": 2, "CHF": 1})
    transaction_types: dict[c.TransactionType, Weight] = msgspec.field(
        default_factory=lambda: {t: 1.0 for t in c.TransactionType}
    )
    # Transaction amounts: lognormal(mu, sigma) in the currency's major unit.
    amount_mu: float = 6.0
    amount_sigma: Annotated[float, Meta(ge=0)] = 1.0
    # Processing durations: gamma(shape, scale) seconds.
    processing_shape: Annotated[float, Meta(gt=0)] = 2.0
    processing_scale: Annotated[float, Meta(gt=0)] = 0.1
    success_ratio: UnitRatio = 0.95
    # A completed transaction is followed after ``followup_delay`` by PortfolioRebalanced
    # (with this probability) or else PortfolioPerformanceUpdated, same correlation id.
    followup_delay: Seconds = 0.2
    rebalance_ratio: UnitRatio = 0.2
    portfolios: Annotated[int, Meta(ge=1)] = 50
    content_mode: Literal["structured", "binary", "mixed"] = "mixed"


class ConsumerMode(StrEnum):
    NORMAL = "normal"
    LAG = "lag"  # processes at most ``consumer_lag_rate`` records/s, commits what it processed
    STALL = "stall"  # keeps polling (stays in the group) but commits nothing


class Faults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Faults to inject. All off by default; ratios are per opportunity (see docs/simulator.md)."""

    downstream_delay: Seconds = 0.0
    drop_followup: UnitRatio = 0.0
    duplicate: UnitRatio = 0.0
    out_of_order: UnitRatio = 0.0
    version_gap: UnitRatio = 0.0
    malformed: UnitRatio = 0.0
    malformed_kinds: tuple[Malformation, ...] = tuple(Malformation)
    failure_burst: UnitRatio = 0.0
    consumer: ConsumerMode = ConsumerMode.NORMAL
    consumer_lag_rate: Annotated[float, Meta(gt=0)] = 5.0


NO_FAULTS = Faults()
