"""Local time for the reports: which instants fall in working hours, out of hours, or on a day off.

``WorkingTime.segments(since, until)`` cuts a window into consecutive ``[start, end)`` segments so that
every instant of one segment has the same local date, local hour and kind. The cuts are every
local hour mark and working-hours bound (both readings of a repeated wall-clock time), every UTC hour
(the SQL matches a page to its segment by the UTC hour first), and every change of the zone's UTC
offset, found by bisection between the other cuts. The SQL counts pages per segment; the figures per
local day, per hour of the week and per kind add segments up. No I/O: the zone comes in.

Working hours include their start and exclude their end: with 09:00-18:00, a page at 18:00:00
is out of hours. A day that is not a working day (``RECEIVER_REPORT_WORKING_DAYS``) is a weekend
day all day long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from receiver.config.settings import ReportSettings, WorkingHours

HOUR = 3600


class Kind(StrEnum):
    WORKING = "working"
    OUT_OF_HOURS = "out_of_hours"  # a working day, outside working hours
    WEEKEND = "weekend"  # a day that is not a working day


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    day: date  # local
    hour: int  # local, 0..23
    weekday: int  # local ISO weekday, Monday 1 .. Sunday 7
    kind: Kind


@dataclass(frozen=True)
class WorkingTime:
    zone: ZoneInfo
    hours: WorkingHours
    days: frozenset[int]  # ISO weekdays

    @classmethod
    def of(cls, time_zone: str, hours: WorkingHours, days: frozenset[int]) -> WorkingTime:
        return cls(ZoneInfo(time_zone), hours, days)

    @classmethod
    def from_settings(cls, settings: ReportSettings) -> WorkingTime:
        return cls.of(settings.time_zone, settings.working_hours, settings.working_days)

    def local(self, instant: float) -> datetime:
        return datetime.fromtimestamp(instant, self.zone)

    def kind_at(self, local: datetime) -> Kind:
        if local.isoweekday() not in self.days:
            return Kind.WEEKEND
        minute = local.hour * 60 + local.minute
        return Kind.WORKING if self.hours.start <= minute < self.hours.end else Kind.OUT_OF_HOURS

    def kind_of(self, instant: float) -> Kind:
        return self.kind_at(self.local(instant))

    def segments(self, since: float, until: float) -> tuple[Segment, ...]:
        if not since < until:
            return ()
        cuts = {since, until}
        marks = sorted({*range(0, 24 * 60, 60), self.hours.start, self.hours.end % (24 * 60)})
        day = self.local(since).date() - timedelta(days=1)
        last = self.local(until).date() + timedelta(days=1)
        while day <= last:
            for minute in marks:
                for fold in (0, 1):  # a repeated wall-clock time (the hour a clock goes back) has two instants
                    wall = datetime(
                        day.year, day.month, day.day, minute // 60, minute % 60, fold=fold, tzinfo=self.zone
                    )
                    cuts.add(wall.timestamp())
            day += timedelta(days=1)
        cuts.update(float(h * HOUR) for h in range(math.ceil(since / HOUR), math.floor(until / HOUR) + 1))
        ordered = sorted(c for c in cuts if since <= c <= until)
        ordered = sorted({*ordered, *(t for a, b in pairwise(ordered) if (t := self._offset_change(a, b)) is not None)})
        segments = []
        for start, end in pairwise(ordered):
            local = self.local(start)
            segments.append(Segment(start, end, local.date(), local.hour, local.isoweekday(), self.kind_at(local)))
        return tuple(segments)

    def _offset(self, instant: float) -> timedelta | None:
        return datetime.fromtimestamp(instant, UTC).astimezone(self.zone).utcoffset()

    def _offset_change(self, start: float, end: float) -> float | None:
        """The whole second in (start, end) where the UTC offset changes, if it does (offsets change on
        whole seconds; at most once between two cuts an hour apart)."""
        before, after = self._offset(start), self._offset(end)
        if before == after:
            return None
        low, high = math.floor(start), math.ceil(end)  # offset(low) == before, offset(high) == after
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == before:
                low = middle
            else:
                high = middle
        return float(high) if start < high < end else None
