"""One-click acknowledge links: a signed, expiring token that names exactly one alert.

The token is itsdangerous's URL-safe timed serialisation of ``{"a": <alert id>, "j": <random id>}``
under the secret ``RECEIVER_ACK_SECRET`` and a salt of its own (so no other signature of this
key, present or future, can pass for it). The signature carries the time it was made; a token
older than ``RECEIVER_ACK_LINK_TTL`` is expired. The random id makes every link unique, so the
receiver can refuse a second use (``ack_links_used``). The token authorizes one thing: to
acknowledge its alert, and only through the page's button (a GET never changes state).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

SALT = "receiver.ack-link.v1"
TOKEN_LIMIT = 512  # characters; a real token is about 100


class AckLinkRefused(Exception):
    """A token that cannot acknowledge: ``reason`` is expired or invalid (tampered, malformed)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


EXPIRED = "expired"
INVALID = "invalid"


@dataclass(frozen=True)
class AckToken:
    alert_id: int
    token_id: str  # random, unique per link: the key of the single-use check
    issued_at: float


def _signer(clock: Callable[[], float]) -> type[TimestampSigner]:
    class ClockSigner(TimestampSigner):
        """Signs and checks ages with the injected clock, so tests can move time."""

        def get_timestamp(self) -> int:
            return int(clock())

    return ClockSigner


class AckLinks:
    """Makes and checks acknowledge tokens. ``ttl``: seconds a token stays valid."""

    def __init__(self, secret: str, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT, signer=_signer(clock))

    @property
    def ttl(self) -> float:
        return self._ttl

    def token(self, alert_id: int) -> str:
        return self._serializer.dumps({"a": alert_id, "j": secrets.token_urlsafe(12)})

    def verify(self, token: str) -> AckToken:
        """The token's alert and id; ``AckLinkRefused`` when it is expired, tampered with or malformed."""
        if len(token) > TOKEN_LIMIT:
            raise AckLinkRefused(INVALID, "the link is too long to be one of ours")
        try:
            payload, issued = self._serializer.loads(token, max_age=round(self._ttl), return_timestamp=True)
        except SignatureExpired as exc:
            raise AckLinkRefused(EXPIRED, "the link has expired") from exc
        except BadData as exc:  # a bad signature, a bad timestamp, a payload that does not decode
            raise AckLinkRefused(INVALID, "the link is not valid (changed or incomplete)") from exc
        return AckToken(*_fields(payload), issued_at=issued.timestamp())


def _fields(payload: Any) -> tuple[int, str]:
    if not isinstance(payload, dict):
        raise AckLinkRefused(INVALID, "the link does not name an alert")
    alert_id, token_id = payload.get("a"), payload.get("j")
    if not isinstance(alert_id, int) or isinstance(alert_id, bool) or not isinstance(token_id, str) or not token_id:
        raise AckLinkRefused(INVALID, "the link does not name an alert")
    return alert_id, token_id
