"""``monitoring report``: alert quality from the receiver's history, as tables or JSON.

The same figures as ``GET /api/v1/reports/*`` and the console's Reports page (docs/receiver.md,
"Alert-quality reports"), read from the receiver's database (``POSTGRES_URI``, else
``RECEIVER_SQLITE_PATH``) through ``receiver.operations``. A bad option exits 2 naming it; an
unreachable database exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from ops.tables import table
from receiver.config.settings import WEEKDAYS
from receiver.operations import (
    DatabaseUnavailable,
    GroupBy,
    ParameterInvalid,
    Report,
    Spread,
    report_document,
    report_from_environ,
)

OPTIONS = {  # option -> the report parameter it sets
    "since": "since",
    "until": "until",
    "group_by": "group_by",
    "tz": "tz",
    "working_hours": "working_hours",
    "working_days": "working_days",
    "top": "top",
}


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="alert quality: pages, time to acknowledge and resolve, noise, flapping")
    report.add_argument("--since", default="7d", help="a duration back from now (7d), a local date or an RFC 3339 time")
    report.add_argument("--until", help="the window's end (default now), same forms")
    report.add_argument(
        "--group-by", dest="group_by", default=GroupBy.PRIORITY.value, help="priority, service, alertname or channel"
    )
    report.add_argument("--tz", help="IANA time zone (default RECEIVER_REPORT_TIMEZONE, Asia/Seoul)")
    report.add_argument(
        "--working-hours", dest="working_hours", help="HH:MM-HH:MM (default RECEIVER_REPORT_WORKING_HOURS)"
    )
    report.add_argument(
        "--working-days", dest="working_days", help="e.g. mon-fri (default RECEIVER_REPORT_WORKING_DAYS)"
    )
    report.add_argument("--top", help="rows of noisiest and flapping alerts (default 10)")
    report.add_argument("--json", action="store_true", help="the API's document instead of tables")


def run(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    parameters = {name: str(getattr(args, option)) for option, name in OPTIONS.items() if getattr(args, option)}
    try:
        report = report_from_environ(env, parameters)
    except ParameterInvalid as exc:
        print(f"monitoring report: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"monitoring report: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report_document(report), indent=2) if args.json else render(report), file=out)
    return 0


def seconds_text(seconds: float | None) -> str:
    """``1d 2h``, ``3h 5m``, ``4m 10s``, ``12s``; ``-`` for none."""
    if seconds is None:
        return "-"
    whole, parts = int(seconds), list[str]()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size or (unit == "s" and not parts):
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return " ".join(parts[:2])


def _spread(spread: Spread) -> str:
    return " / ".join(seconds_text(v) for v in (spread.p50, spread.p90, spread.max))


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def render(report: Report) -> str:
    r = report.request
    zone = ZoneInfo(r.time_zone)

    def local(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M")

    days = ",".join(WEEKDAYS[d - 1] for d in sorted(r.working_days))
    lines = [
        f"Alert quality {local(r.since)} to {local(r.until)} {r.time_zone} ({r.days:g} days); "
        f"working hours {r.working_hours} {days}; pages: notifications on {', '.join(report.paging_channels) or '-'}",
        "",
    ]
    rows: list[list[str]] = []
    for group in (*report.groups, report.total):
        a, p = group.alerts, group.pages
        rows.append(
            [
                group.name,
                str(a.alerts),
                str(a.acknowledged),
                str(a.resolved_unacknowledged),
                str(a.firing_unacknowledged),
                _spread(a.time_to_ack),
                _spread(a.time_to_resolve),
                str(a.escalations),
                str(a.deadlines_missed),
                str(a.refired),
                "-" if group.incidents is None else str(group.incidents),
                str(p.total),
                str(p.out_of_hours),
                str(p.weekend),
                _share(p.total, report.total.pages.total),
            ]
        )
    headers = (
        r.group_by.value,
        "alerts",
        "acked",
        "resolved unacked",
        "firing unacked",
        "to ack p50/p90/max",
        "to resolve p50/p90/max",
        "escalations",
        "deadlines missed",
        "refired",
        "incidents",
        "pages",
        "out of hours",
        "weekend",
        "share",
    )
    lines += [table(headers, rows), ""]
    deadlines = [
        [d.priority, seconds_text(d.ack_deadline) if d.ack_deadline else "none", str(d.alerts), str(d.deadlines_missed)]
        for d in report.deadlines
    ]
    lines += [table(("priority", "ack deadline", "alerts", "deadlines missed"), deadlines), ""]
    noisy = [[n.alertname, n.service, str(n.pages), _share(n.pages, report.all_pages)] for n in report.noisiest]
    lines += [
        table(("noisiest alert", "service", "pages", "share"), noisy) if noisy else "noisiest alerts: no pages",
        "",
    ]
    flapping = [
        [f.alert.alertname, f.alert.service, f.alert.priority, str(f.alert.cycles), f"{f.cycles_per_day:.2f}"]
        for f in report.flapping
    ]
    lines.append(
        table(("flapping alert", "service", "priority", "cycles", "per day"), flapping)
        if flapping
        else "flapping alerts: none fired twice"
    )
    return "\n".join(lines)
