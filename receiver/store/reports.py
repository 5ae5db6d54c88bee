"""The alert-quality read repository: the interface and the records it returns.

Reports read what the alert history already keeps (alerts, their timeline, the notification
outbox) over a window ``[since, until)`` of epoch seconds:

- an alert belongs to the window when the receiver first saw it in it (``first_seen``); its
  acknowledgement, resolution and escalations count with it, whenever they happened;
- a page belongs to the window when it was delivered in it (``delivered_at``): the moment a
  phone rang. A page is an outbox job in state ``delivered`` with action ``trigger`` or
  ``escalate`` on a paging channel (the routing policy's ``paging_channels``). One job is one
  page however many attempts it took (retries), a dead-lettered job is none, its fallback job
  is a page only when the fallback channel pages; each e-mail digest job is one notification
  (never a page);
- a re-fire is the same alert (fingerprint and ``startsAt``) firing again after it resolved:
  a ``refired`` timeline entry, counted when it happened;
- an incident belongs to the window when it was opened in it (``opened_at``), unless it was merged
  into another (status ``merged``: folded into the other, it never paged on its own). Its group is its
  ``priority``, or the ``service`` and ``alertname`` of its probable cause (``cause_alert_id``); by
  channel, every channel it was notified on (a delivered trigger or escalation of the incident).

Durations (time to acknowledge, time to resolve) come back as histograms: per metric, group and
duration bucket, how many and the shortest and longest. ``receiver.reports.percentiles`` finds the
bucket holding each wanted rank and asks ``ranked`` for the exact values there, in the same snapshot,
so that percentiles are exact without sorting every duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol


class GroupBy(StrEnum):
    PRIORITY = "priority"
    SERVICE = "service"
    ALERTNAME = "alertname"
    CHANNEL = "channel"  # an alert belongs to every channel it was notified on: these groups overlap


class Section(StrEnum):
    """What a report reads; each section is its own queries, all in one snapshot."""

    ALERTS = "alerts"  # counts, time to acknowledge and to resolve, escalations, re-fires per group
    PAGES = "pages"  # pages per group and per segment of local time
    NOISIEST = "noisiest"  # the alerts with the most pages
    FLAPPING = "flapping"  # the alerts with the most fire/resolve cycles


class Metric(IntEnum):
    TIME_TO_ACK = 1
    TIME_TO_RESOLVE = 2


class AckState(IntEnum):
    """What became of an alert; the three partition the alerts."""

    ACKNOWLEDGED = 1  # before it resolved (or still firing): an acknowledgement after it resolved is a review
    RESOLVED_UNACKNOWLEDGED = 2  # resolved with nobody acknowledging first: a noise signal
    FIRING_UNACKNOWLEDGED = 3


@dataclass(frozen=True)
class ReportQuery:
    since: float  # whole seconds, inclusive
    until: float  # whole seconds, exclusive
    group_by: GroupBy
    paging_channels: tuple[str, ...]
    # Consecutive [start, end) pieces of the window, each inside one UTC hour (whole seconds): pages are
    # counted per piece, by its index; receiver.reports.working_time cuts them along local time.
    segments: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class AlertCount:
    group: str
    state: AckState
    alerts: int
    escalations: int
    deadlines_missed: int  # escalated at least once: not acknowledged within the priority's ack deadline


@dataclass(frozen=True)
class DurationBucket:
    """Durations of one metric and group that fall in one bucket (buckets ascend with the duration)."""

    metric: Metric
    group: str
    bucket: int
    count: int
    shortest: float
    longest: float


@dataclass(frozen=True)
class PageCount:
    group: str
    segment: int  # index into ReportQuery.segments
    pages: int


@dataclass(frozen=True)
class AlertRows:
    counts: tuple[AlertCount, ...]  # per group and state
    durations: tuple[DurationBucket, ...]
    refired: dict[str, int]  # re-fires in the window per group
    pages: tuple[PageCount, ...] = ()  # when asked for with the alerts
    # Per priority (the count's group) and state, every alert once: the counts themselves when grouped by
    # priority; none when the groups overlap (by channel: read the alerts grouped by priority for them).
    priorities: tuple[AlertCount, ...] = ()
    incidents: dict[str, int] = field(default_factory=dict)  # incidents opened in the window per group


@dataclass(frozen=True)
class RankTarget:
    """The ``rank``-th shortest (1-based) duration of ``metric`` in ``bucket``, among the group's durations,
    or among all alerts' when ``group`` is None."""

    metric: Metric
    group: str | None
    bucket: int
    rank: int


@dataclass(frozen=True)
class NoisyAlert:
    alertname: str
    service: str
    pages: int


@dataclass(frozen=True)
class FlappingAlert:
    fingerprint: str
    alertname: str
    service: str
    priority: str
    cycles: int  # times it started firing in the window: new alerts plus re-fires


@dataclass(frozen=True)
class FlappingRows:
    flapping: tuple[FlappingAlert, ...]  # every fingerprint with FLAPPING_CYCLES or more cycles
    fired: int  # distinct fingerprints that started firing in the window
    cycles: int  # all cycles: alerts first seen plus re-fires


FLAPPING_CYCLES = 2  # one fire/resolve cycle is an alert; two or more in a window is flapping


class ReportSnapshot(Protocol):
    """Reads over one consistent state of the history."""

    def alerts(self, query: ReportQuery, *, pages: bool = False) -> AlertRows:
        """Counts, duration histograms, re-fires and incidents per group, counts per priority; ``pages``: also
        the pages, as ``pages`` would count them."""
        ...

    def ranked(self, query: ReportQuery, targets: Sequence[RankTarget]) -> dict[RankTarget, float]:
        """The durations at the targets' ranks (within their bucket), as ``alerts`` counted them."""
        ...

    def pages(self, query: ReportQuery) -> tuple[PageCount, ...]: ...

    def noisiest(self, query: ReportQuery) -> tuple[NoisyAlert, ...]:
        """Pages per alert name and service, every one of them."""
        ...

    def flapping(self, query: ReportQuery) -> FlappingRows: ...


class ReportReads(Protocol):
    def snapshot(self) -> AbstractContextManager[ReportSnapshot]:
        """A read-only transaction whose reads all see the same history."""
        ...
