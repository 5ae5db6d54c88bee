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
  a ``refired`` timeline entry, counted when it happened.

Durations are nearest-rank percentiles: the p-th percentile of n values is the value at rank
ceil(p·n) in ascending order, so every figure is a duration that actually occurred.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
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
    NOTIFICATIONS = "notifications"  # delivered notifications per group and channel, any channel
    NOISIEST = "noisiest"  # the alerts with the most pages
    FLAPPING = "flapping"  # the alerts with the most fire/resolve cycles


@dataclass(frozen=True)
class ReportQuery:
    since: float  # whole seconds, inclusive
    until: float  # whole seconds, exclusive
    group_by: GroupBy
    paging_channels: tuple[str, ...]
    # Consecutive [start, end) pieces of the window, each inside one UTC hour (whole seconds): pages are
    # counted per piece, by its index; receiver.reports.working_time cuts them along local time.
    segments: tuple[tuple[float, float], ...] = ()
    top: int = 10
    sections: frozenset[Section] = frozenset(Section)


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, nearest-rank p50 and p90, and the longest (None when none)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class AlertFigures:
    alerts: int = 0  # first seen in the window
    acknowledged: int = 0  # acknowledged before they resolved (or still firing)
    resolved_unacknowledged: int = 0  # resolved with nobody acknowledging first: a noise signal
    firing_unacknowledged: int = 0  # still firing, nobody acknowledged yet
    escalations: int = 0
    deadlines_missed: int = 0  # escalated at least once: not acknowledged within the priority's ack deadline
    refired: int = 0  # fired again after resolving, within the window
    time_to_ack: Spread = field(default_factory=Spread)
    time_to_resolve: Spread = field(default_factory=Spread)


@dataclass(frozen=True)
class PageCount:
    group: str
    segment: int  # index into ReportQuery.segments
    pages: int


@dataclass(frozen=True)
class NotificationCount:
    group: str
    channel: str
    notifications: int


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
class ReportRows:
    total: AlertFigures = field(default_factory=AlertFigures)
    groups: dict[str, AlertFigures] = field(default_factory=dict)
    priorities: dict[str, AlertFigures] = field(default_factory=dict)  # counts only: deadlines per priority
    pages: tuple[PageCount, ...] = ()
    notifications: tuple[NotificationCount, ...] = ()
    noisiest: tuple[NoisyAlert, ...] = ()
    all_pages: int = 0  # the noisiest alerts' denominator
    flapping: tuple[FlappingAlert, ...] = ()
    flapping_alerts: int = 0  # fingerprints with at least FLAPPING_CYCLES cycles in the window
    fired_alerts: int = 0  # distinct fingerprints that started firing in the window


FLAPPING_CYCLES = 2  # one fire/resolve cycle is an alert; two or more in a window is flapping


class ReportReads(Protocol):
    def report_rows(self, query: ReportQuery) -> ReportRows:
        """The figures of ``query.sections`` over the window, read in one consistent snapshot."""
        ...
