"""The one interface every notification channel implements, and how HTTP answers map onto it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from receiver.history import AlertRecord


@dataclass(frozen=True)
class Notification:
    alert: AlertRecord
    action: str  # trigger | resolve | escalate
    fallback: bool = False


class DeliveryFailed(Exception):
    """A send did not succeed. ``retryable`` says whether trying again can help."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    name: str

    def send(self, notification: Notification) -> None:
        """Deliver or raise ``DeliveryFailed``."""
        ...


@runtime_checkable
class DigestChannel(Protocol):
    """A channel that can also send many notifications as one message."""

    name: str

    def send(self, notification: Notification) -> None: ...

    def send_digest(self, notifications: Sequence[Notification]) -> None:
        """Deliver all in one message or raise ``DeliveryFailed`` for all."""
        ...


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def check_status(channel: str, status: int, retry_after: str | None) -> None:
    """Raise ``DeliveryFailed`` for an unsuccessful HTTP status: 429 and 5xx retry, other 4xx do not."""
    if 200 <= status < 300:
        return
    if status == 429:
        raise DeliveryFailed(f"{channel}: HTTP 429", retryable=True, retry_after=retry_after_seconds(retry_after))
    if 400 <= status < 500:
        raise DeliveryFailed(f"{channel}: HTTP {status} (rejected, not retried)", retryable=False)
    raise DeliveryFailed(f"{channel}: HTTP {status}", retryable=True, retry_after=retry_after_seconds(retry_after))
