"""What a channel is given and what it may answer: a notification of one alert, the channel
interfaces, and ``DeliveryFailed`` (retry or not)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from receiver.store.history import AlertRecord, IncidentNotice


@dataclass(frozen=True)
class Notification:
    """One alert to tell about. ``ack_deadline``: the priority's acknowledgement deadline in seconds,
    set on escalations (the deadline that was missed)."""

    alert: AlertRecord
    action: str  # trigger | resolve | escalate | acknowledge | update (an alert joined the incident)
    fallback: bool = False
    job: int | None = None  # the outbox job sending it: the same on every retry
    thread: int | None = None  # the job of the alert's first trigger on this channel (the conversation's start)
    ack_deadline: float | None = None
    incident: IncidentNotice | None = None  # the incident it speaks for; None: the alert pages on its own


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
