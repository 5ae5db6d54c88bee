"""Prometheus durations (`1h30m`, `500ms`, `0s`) as Prometheus's `model.ParseDuration` reads them."""

from __future__ import annotations

import re

_UNITS = (("y", 31536000.0), ("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_DURATION = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS))


class DurationInvalid(ValueError):
    """Not a Prometheus duration."""


def parse_duration(text: object) -> float:
    """Seconds in ``text``; units from largest to smallest, each at most once, e.g. ``1h30m``."""
    raw = str(text).strip()
    if raw == "0":
        return 0.0
    match = _DURATION.fullmatch(raw)
    if not raw or match is None:
        raise DurationInvalid(f"not a duration: {raw!r} (expected e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * seconds for n, (_, seconds) in zip(match.groups(), _UNITS, strict=True) if n)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration of ``seconds`` (rounded to milliseconds): ``90`` -> ``1m30s``."""
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    out = []
    for unit, size in _UNITS:
        step = round(size * 1000)
        count, millis = divmod(millis, step)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
