"""The egress guard: a channel whose destination is checked against the egress policy
(``receiver/config/egress.py``) before every send, since DNS may change after configuration load."""

from __future__ import annotations

from receiver.config.egress import DestinationDenied, EgressPolicy
from receiver.delivery.notification import Channel, DeliveryFailed, Notification


class GuardedChannel:
    """A channel whose destination is checked before every send; a denied one fails for good."""

    def __init__(self, channel: Channel, url: str, policy: EgressPolicy) -> None:
        self.name = channel.name
        self._channel = channel
        self._url = url
        self._policy = policy

    def send(self, notification: Notification) -> None:
        try:
            self._policy.check(self._url)
        except DestinationDenied as exc:
            raise DeliveryFailed(f"destination denied: {exc}", retryable=False) from None
        self._channel.send(notification)
