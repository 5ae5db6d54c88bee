"""A bounded memory of event ids, to count a redelivered event once."""

from __future__ import annotations

from collections import OrderedDict


class SeenIds:
    """Remembers the last ``capacity`` ids; ``add`` says whether an id is new.

    Redeliveries (at-least-once consumption, producer retries) arrive close to the
    original, so a window of recent ids catches them in bounded memory.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # OrderedDict, not dict: evicting the oldest key of a plain dict rescans deleted slots.
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, event_id: str) -> bool:
        ids = self._ids
        if event_id in ids:
            return False
        ids[event_id] = None
        if len(ids) > self._capacity:
            ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
