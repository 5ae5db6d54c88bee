"""One module per channel behind ``Channel.send(Notification)``; here, how HTTP answers map onto
a delivery's outcome (``DeliveryFailed``, retry or not, and when)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from receiver.delivery.notification import DeliveryFailed


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
