"""Who owned which partition when, read from the exporters' own log lines.

Each exporter logs ``partitions_assigned`` and ``partitions_revoked`` (exporter/sources.py) for
its consumer-group member, the revoke once its commit is done. The instance that holds the
consistency lock runs a second consumer (group ``<group>.consistency``, alone in it) that logs
the same lines: it is assigned every partition right after ``consistency_leader_acquired`` and
revoked when the instance stops. Its lines are told apart by that: the first assignment of
every partition after the lock is taken is the consistency consumer's, and so is a revoke of
every partition while the group member holds fewer. A scenario keeps this unambiguous by
letting an instance take the lock only while its group member is not being assigned every
partition (with two or more members, or after the member's first assignment).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

Interval = tuple[datetime, datetime]


@dataclass
class Ownership:
    """One process's group-member ownership: partition -> the intervals it held it."""

    process: str
    intervals: dict[str, list[Interval]] = field(default_factory=dict)
    consistency: list[Interval] = field(default_factory=list)  # while its consistency consumer ran

    def owns(self, partition: str, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.intervals.get(partition, []))


def read_ownership(process: str, log_path: Path, partitions: set[str], until: datetime) -> Ownership:
    """The group member's intervals from ``log_path``; one still held ends at ``until``."""
    held: dict[str, datetime] = {}
    owned = Ownership(process)
    consistency_pending = False
    consistency_since: datetime | None = None
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        event, at = entry.get("event"), datetime.fromisoformat(entry.get("timestamp", "1970-01-01T00:00:00+00:00"))
        if event == "consistency_leader_acquired":
            consistency_pending = True
        elif event == "partitions_assigned":
            assigned = set(entry["assigned"])
            if consistency_pending and assigned == partitions:
                consistency_pending, consistency_since = False, at
                continue
            held.update(dict.fromkeys(assigned, at))
        elif event == "partitions_revoked":
            revoked = set(entry["revoked"])
            if consistency_since is not None and revoked == partitions and set(held) != partitions:
                owned.consistency.append((consistency_since, at))
                consistency_since = None
                continue
            for name in revoked & set(held):
                owned.intervals.setdefault(name, []).append((held.pop(name), at))
    for name, since in held.items():
        owned.intervals.setdefault(name, []).append((since, until))
    if consistency_since is not None:
        owned.consistency.append((consistency_since, until))
    return owned


def owned_twice(members: list[Ownership]) -> list[tuple[str, str, str]]:
    """``(partition, process, process)`` for every partition two processes held at the same instant."""
    clashes = []
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            for name in sorted(set(a.intervals) & set(b.intervals)):
                if any(s1 < e2 and s2 < e1 for s1, e1 in a.intervals[name] for s2, e2 in b.intervals[name]):
                    clashes.append((name, a.process, b.process))
    return clashes


def consistency_overlaps(members: list[Ownership]) -> list[tuple[str, str]]:
    """Pairs of processes whose consistency consumers ran at the same instant."""
    return [
        (a.process, b.process)
        for i, a in enumerate(members)
        for b in members[i + 1 :]
        if any(s1 < e2 and s2 < e1 for s1, e1 in a.consistency for s2, e2 in b.consistency)
    ]


def owners_at(members: list[Ownership], partitions: set[str], at: datetime) -> dict[str, list[str]]:
    """Partition -> the processes holding it at ``at`` (one each when the group is settled)."""
    return {name: [m.process for m in members if m.owns(name, at)] for name in sorted(partitions)}


def moved(before: dict[str, list[str]], after: dict[str, list[str]]) -> int:
    """Partitions whose owner differs between two settled moments."""
    return sum(before[name] != after[name] for name in before)
