"""Query-string values of the receiver's JSON API: integers and RFC 3339 times in, RFC 3339 out.

A bad value raises ``ValueError`` naming the parameter; the routes answer it with a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

MAX_LIMIT = 1000


def integer(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer") from None


def page(args: Mapping[str, str]) -> tuple[int, int | None]:
    """A paged list's ``limit`` (1..1000, default 100) and its ``after`` cursor (an id, or None)."""
    limit = integer(args.get("limit", "100"), "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected 1..{MAX_LIMIT}")
    after = args.get("after")
    return limit, None if after is None else integer(after, "after")


def moment(raw: str | None, name: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (UTC when it has no offset); None when absent."""
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: expected an RFC 3339 time such as 2026-01-01T00:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def rfc3339(value: float | None) -> str | None:
    return None if value is None else datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
