"""What a report is asked for: the window, the grouping, the time zone and working hours, how many top rows.

The same parameters come from the API's query string, the console's form and ``monitoring report``'s
options; each bad one raises ``ParameterInvalid`` naming it, which the API answers with a 400.

``since`` and ``until`` are a duration back from now (``7d``, ``36h``), a local date (``2026-03-02``:
midnight in the report's time zone), a local time (``2026-03-02T09:00``) or an RFC 3339 time with an
offset (``2026-03-02T00:00:00Z``). The window is whole seconds, ``since`` included, ``until`` excluded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from monitoring.settings import parse_duration
from receiver.config.settings import (
    ReportSettings,
    WorkingHours,
    parse_time_zone,
    parse_working_days,
    parse_working_hours,
)
from receiver.store.reports import GroupBy

DEFAULT_SINCE = 7 * 86400.0
MAX_WINDOW_DAYS = 366
MAX_TOP = 100
T = TypeVar("T")
PARAMETERS = ("since", "until", "group_by", "tz", "working_hours", "working_days", "top")


class ParameterInvalid(ValueError):
    """A report parameter that cannot be used. The message names it; ``parameter`` is one of PARAMETERS
    or ``unknown`` (a bounded metric label)."""

    def __init__(self, parameter: str, reason: str, *, given: str | None = None) -> None:
        super().__init__(f"{given or parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


@dataclass(frozen=True)
class ReportRequest:
    since: float
    until: float
    group_by: GroupBy = GroupBy.PRIORITY
    time_zone: str = "Asia/Seoul"
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    working_days: frozenset[int] = frozenset(range(1, 6))
    top: int = 10

    @property
    def days(self) -> float:
        return (self.until - self.since) / 86400


def parse_request(args: Mapping[str, str], settings: ReportSettings, now: float) -> ReportRequest:
    """A request from string parameters (absent or empty: the defaults and the configured settings)."""
    values = {k: v.strip() for k, v in args.items() if v is not None and v.strip()}
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise ParameterInvalid("unknown", f"unknown parameter; expected {', '.join(PARAMETERS)}", given=unknown[0])
    zone_name = _parsed("tz", values.get("tz"), parse_time_zone, settings.time_zone)
    zone = ZoneInfo(zone_name)
    since = moment("since", values.get("since"), zone, now, now - DEFAULT_SINCE)
    until = moment("until", values.get("until"), zone, now, now)
    if since >= until:
        raise ParameterInvalid("since", "the window is empty: since must be before until")
    if until - since > MAX_WINDOW_DAYS * 86400:
        raise ParameterInvalid("since", f"the window is longer than {MAX_WINDOW_DAYS} days")
    raw_group = values.get("group_by", GroupBy.PRIORITY.value)
    try:
        group_by = GroupBy(raw_group)
    except ValueError:
        raise ParameterInvalid(
            "group_by", f"unknown group {raw_group!r}; expected one of {', '.join(g.value for g in GroupBy)}"
        ) from None
    return ReportRequest(
        since=since,
        until=until,
        group_by=group_by,
        time_zone=zone_name,
        working_hours=_parsed(
            "working_hours", values.get("working_hours"), parse_working_hours, settings.working_hours
        ),
        working_days=_parsed("working_days", values.get("working_days"), parse_working_days, settings.working_days),
        top=_top(values.get("top")),
    )


def moment(name: str, raw: str | None, zone: ZoneInfo, now: float, default: float) -> float:
    """Seconds since the epoch, whole: see the module's doc for the forms."""
    if raw is None:
        return float(math.floor(default))
    if raw[0].isdigit() and not any(c in raw for c in "-:T"):
        try:
            return float(math.floor(now - parse_duration(raw)))
        except ValueError:
            pass
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterInvalid(
            name, "expected a duration back from now (7d), a local date (2026-03-02) or an RFC 3339 time"
        ) from None
    if when.tzinfo is None:  # a local date (its midnight) or a local time
        when = when.replace(tzinfo=zone)
    return float(math.floor(when.timestamp()))


def _parsed(name: str, raw: str | None, parse: Callable[[object], T], default: T) -> T:
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ParameterInvalid(name, str(exc)) from None


def _top(raw: str | None) -> int:
    if raw is None:
        return 10
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise ParameterInvalid("top", f"expected an integer from 1 to {MAX_TOP}")
    return int(raw)
