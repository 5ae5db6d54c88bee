"""Bounded label values: a value taken from an event becomes a label only if it is allowed.

A fixed allow-list (the catalogue's services, asset classes, ...) is admitted as is; other
values are admitted first come, first served up to ``limit`` distinct values, and every
value after that is reported as ``other``. A misbehaving producer therefore adds at most
``limit`` series per label, never an unbounded number.
"""

from __future__ import annotations

from collections.abc import Iterable

OTHER = "other"


class BoundedLabel:
    def __init__(self, allowed: Iterable[str] = (), limit: int = 20) -> None:
        self._admitted: dict[str, str] = {value: value for value in allowed}
        self._extra = 0
        self._limit = limit

    def __call__(self, value: str) -> str:
        admitted = self._admitted.get(value)
        if admitted is not None:
            return admitted
        if self._extra < self._limit:
            self._extra += 1
            self._admitted[value] = value
            return value
        return OTHER
