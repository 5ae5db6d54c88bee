"""The event catalogue: every domain event type and the shape of its ``data``.

Platform services (asset, portfolio, transaction) publish the first nine; the
monitoring stack publishes its own eight. Each payload is a frozen msgspec Struct, so
decoding validates types and ranges in one pass, and ``docs/events.md`` /
``monitoring/schemas/*.json`` are generated from these classes (``monitoring
schemas --write``), never written by hand.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Id = Annotated[str, Meta(min_length=1, max_length=128)]
Name = Annotated[str, Meta(min_length=1, max_length=256)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Money = Annotated[float, Meta(ge=0, description="amount in the currency's major unit")]
Ratio = Annotated[float, Meta(description="a fraction, 0.05 meaning 5%")]
UnitRatio = Annotated[float, Meta(ge=0, le=1)]
Seconds = Annotated[float, Meta(ge=0)]
Labels = dict[str, str]


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """Base of every ``data`` payload. Unknown fields are tolerated (forward compatible)."""


class AssetClass(StrEnum):
    EQUITY = "equity"
    BOND = "bond"
    FUND = "fund"
    ETF = "etf"
    CASH = "cash"
    CRYPTO = "crypto"
    REAL_ESTATE = "real_estate"
    COMMODITY = "commodity"


class TransactionType(StrEnum):
    BUY = "buy"
    SELL = "sell"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    TRANSFER = "transfer"
    DIVIDEND = "dividend"


# --- asset-service ---


class AssetCreated(Payload, frozen=True, kw_only=True):
    asset_id: Id
    asset_class: AssetClass
    name: Name
    value: Money
    currency: Currency


class AssetModified(Payload, frozen=True, kw_only=True):
    asset_id: Id
    asset_class: AssetClass
    changed_fields: list[Name]


class AssetValuationChanged(Payload, frozen=True, kw_only=True):
    asset_id: Id
    asset_class: AssetClass
    old_value: Money
    new_value: Money
    currency: Currency


# --- portfolio-service ---


class PortfolioRebalanced(Payload, frozen=True, kw_only=True):
    portfolio_id: Id
    trades: Annotated[int, Meta(ge=0)]
    reason: Name


Period = Literal["1d", "1w", "1m", "3m", "6m", "1y", "ytd"]


class PortfolioPerformanceUpdated(Payload, frozen=True, kw_only=True):
    portfolio_id: Id
    return_ratio: Ratio
    period: Period


class PortfolioGoalProgressUpdated(Payload, frozen=True, kw_only=True):
    portfolio_id: Id
    goal_id: Id
    progress_ratio: Annotated[float, Meta(ge=0, description="1.0 means the goal is reached")]
    achieved: bool


# --- transaction-service ---


class TransactionInitiated(Payload, frozen=True, kw_only=True):
    transaction_id: Id
    portfolio_id: Id
    transaction_type: TransactionType
    amount: Money
    currency: Currency


class TransactionCompleted(Payload, frozen=True, kw_only=True):
    transaction_id: Id
    portfolio_id: Id
    transaction_type: TransactionType
    amount: Money
    currency: Currency
    processing_seconds: Seconds


class TransactionFailed(Payload, frozen=True, kw_only=True):
    transaction_id: Id
    portfolio_id: Id
    transaction_type: TransactionType
    amount: Money
    currency: Currency
    reason: Name


# --- the monitoring stack's own events ---

Priority = Literal["critical", "high", "medium", "low"]
HealthState = Literal["up", "down", "unknown"]


class SeriesValue(msgspec.Struct, frozen=True, kw_only=True):
    """One series' value, e.g. ``transactions_total{status="completed",type="buy"}`` = 42."""

    series: Annotated[str, Meta(min_length=1, max_length=2048)]
    value: float


class MetricCollected(Payload, frozen=True, kw_only=True):
    """One collection cycle of business-data queries and health checks, summarised.

    ``values`` is a list, not a mapping: series names contain dots and braces, which
    document stores refuse as field names.
    """

    collector: Name
    started_at: datetime
    duration_seconds: Seconds
    samples: Annotated[int, Meta(ge=0)]
    errors: Annotated[int, Meta(ge=0)]
    values: list[SeriesValue] = []


class ThresholdExceeded(Payload, frozen=True, kw_only=True):
    alert_id: Id
    alertname: Name
    priority: Priority
    service: Name
    labels: Labels
    value: str | None = None
    links: dict[str, str] = {}


class AlertCreated(Payload, frozen=True, kw_only=True):
    alert_id: Id
    fingerprint: Id
    alertname: Name
    priority: Priority
    service: Name
    labels: Labels
    annotations: Labels
    starts_at: datetime


class AlertResolved(Payload, frozen=True, kw_only=True):
    alert_id: Id
    fingerprint: Id
    alertname: Name
    priority: Priority
    service: Name
    resolved_at: datetime
    duration_seconds: Seconds


class PerformanceAnomaly(Payload, frozen=True, kw_only=True):
    alert_id: Id
    alertname: Name
    service: Name
    metric: Name
    labels: Labels
    value: str | None = None
    links: dict[str, str] = {}


class IncidentOpened(Payload, frozen=True, kw_only=True):
    """An incident opened (``reopened`` > 0: opened again within the cool-down after it resolved)."""

    incident_id: Id
    title: Name  # its probable cause: "ServiceDown (transaction-service)"
    priority: Priority
    part: Name | None  # the topology part of its probable cause; None when its labels match no part
    cause_alert_id: Id
    opened_at: datetime
    reopened: Annotated[int, Meta(ge=0)] = 0


class IncidentResolved(Payload, frozen=True, kw_only=True):
    """An incident's last alert resolved, or it merged into another (``merged_into``)."""

    incident_id: Id
    title: Name
    priority: Priority
    part: Name | None
    opened_at: datetime
    resolved_at: datetime
    duration_seconds: Seconds
    alerts: Annotated[int, Meta(ge=0)]
    merged_into: Id | None = None
    reopened: Annotated[int, Meta(ge=0)] = 0


class ServiceHealthChanged(Payload, frozen=True, kw_only=True):
    service: Name
    previous: HealthState
    current: HealthState
    reason: str
    checked_at: datetime


PLATFORM_EVENTS: dict[str, type[Payload]] = {
    "AssetCreated": AssetCreated,
    "AssetModified": AssetModified,
    "AssetValuationChanged": AssetValuationChanged,
    "PortfolioRebalanced": PortfolioRebalanced,
    "PortfolioPerformanceUpdated": PortfolioPerformanceUpdated,
    "PortfolioGoalProgressUpdated": PortfolioGoalProgressUpdated,
    "TransactionInitiated": TransactionInitiated,
    "TransactionCompleted": TransactionCompleted,
    "TransactionFailed": TransactionFailed,
}

MONITORING_EVENTS: dict[str, type[Payload]] = {
    "MetricCollected": MetricCollected,
    "ThresholdExceeded": ThresholdExceeded,
    "AlertCreated": AlertCreated,
    "AlertResolved": AlertResolved,
    "PerformanceAnomaly": PerformanceAnomaly,
    "ServiceHealthChanged": ServiceHealthChanged,
    "IncidentOpened": IncidentOpened,
    "IncidentResolved": IncidentResolved,
}

CATALOGUE: dict[str, type[Payload]] = {**PLATFORM_EVENTS, **MONITORING_EVENTS}

# Which service publishes each type; the CloudEvents ``source`` attribute.
PUBLISHER: dict[str, str] = {
    **{name: "asset-service" for name in PLATFORM_EVENTS if name.startswith("Asset")},
    **{name: "portfolio-service" for name in PLATFORM_EVENTS if name.startswith("Portfolio")},
    **{name: "transaction-service" for name in PLATFORM_EVENTS if name.startswith("Transaction")},
    "MetricCollected": "monitoring-exporter",
    "ServiceHealthChanged": "monitoring-exporter",
    "ThresholdExceeded": "monitoring-receiver",
    "AlertCreated": "monitoring-receiver",
    "AlertResolved": "monitoring-receiver",
    "PerformanceAnomaly": "monitoring-receiver",
    "IncidentOpened": "monitoring-receiver",
    "IncidentResolved": "monitoring-receiver",
}

# The Kafka topic each platform service publishes to.
TOPIC_OF_SOURCE: dict[str, str] = {
    "asset-service": "asset.events",
    "portfolio-service": "portfolio.events",
    "transaction-service": "transaction.events",
    "monitoring-exporter": "monitoring.events",
    "monitoring-receiver": "monitoring.events",
}


SCHEMA_DIR = Path(__file__).parent / "schemas"  # the generated JSON Schemas (`monitoring schemas --write`)


def generated_schemas() -> dict[str, str]:
    """File name -> JSON Schema text for every catalogue type."""
    out = {}
    for name, cls in CATALOGUE.items():
        schema = msgspec.json.schema(cls)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": name, **schema}
        out[f"{name}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out
