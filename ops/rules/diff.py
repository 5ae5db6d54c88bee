"""Two backtests of the same window compared firing by firing: new, gone, earlier, later.

Firings are paired by their alert's labels and overlapping time (in time order); a pair whose
firing times differ by at least ``tolerance`` (one evaluation interval) is earlier or later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ops.rules.evaluation import Episode, Labels


@dataclass(frozen=True)
class Change:
    kind: str  # new | gone | earlier | later
    labels: Labels
    rule: str  # the rule key of the candidate (baseline for gone)
    fired_at: float | None  # candidate
    baseline_fired_at: float | None

    @property
    def shift(self) -> float:
        if self.fired_at is None or self.baseline_fired_at is None:
            return 0.0
        return self.fired_at - self.baseline_fired_at


def _overlap(a: Episode, b: Episode, end: float) -> bool:
    a_end = a.resolved_at if a.resolved_at is not None else end
    b_end = b.resolved_at if b.resolved_at is not None else end
    return a.fired_at <= b_end and b.fired_at <= a_end


def compare(candidate: Sequence[Episode], baseline: Sequence[Episode], end: float, tolerance: float) -> list[Change]:
    """The changes from ``baseline`` to ``candidate`` (unchanged firings are not listed)."""
    by_labels: dict[Labels, tuple[list[Episode], list[Episode]]] = {}
    for episode in candidate:
        by_labels.setdefault(episode.labels, ([], []))[0].append(episode)
    for episode in baseline:
        by_labels.setdefault(episode.labels, ([], []))[1].append(episode)
    changes: list[Change] = []
    for labels, (new, old) in by_labels.items():
        new.sort(key=lambda e: e.fired_at)
        old.sort(key=lambda e: e.fired_at)
        i = j = 0
        while i < len(new) or j < len(old):
            if i < len(new) and j < len(old) and _overlap(new[i], old[j], end):
                shift = new[i].fired_at - old[j].fired_at
                if abs(shift) >= tolerance:
                    kind = "earlier" if shift < 0 else "later"
                    changes.append(Change(kind, labels, new[i].rule.key, new[i].fired_at, old[j].fired_at))
                i, j = i + 1, j + 1
            elif j >= len(old) or (i < len(new) and new[i].fired_at < old[j].fired_at):
                changes.append(Change("new", labels, new[i].rule.key, new[i].fired_at, None))
                i += 1
            else:
                changes.append(Change("gone", labels, old[j].rule.key, None, old[j].fired_at))
                j += 1
    changes.sort(key=lambda c: (c.fired_at if c.fired_at is not None else c.baseline_fired_at or 0.0, c.labels))
    return changes
