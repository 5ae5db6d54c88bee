"""A report as JSON: the API's answers and ``monitoring report --json`` (one shape for both).

Names are camelCase like the rest of the receiver's API; durations are seconds; times RFC 3339 in
UTC; ``incidents`` (opened in the window, merged ones left out) is null when the alerts were not read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from receiver.config.settings import WEEKDAYS
from receiver.reports.figures import GroupFigures, HoursSplit, Report
from receiver.reports.percentiles import Spread


def instant(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def window_document(report: Report) -> dict[str, Any]:
    r = report.request
    return {
        "since": instant(r.since),
        "until": instant(r.until),
        "days": round(r.days, 6),
        "timeZone": r.time_zone,
        "workingHours": str(r.working_hours),
        "workingDays": [WEEKDAYS[d - 1] for d in sorted(r.working_days)],
        "groupBy": r.group_by.value,
        "pagingChannels": list(report.paging_channels),
    }


def spread_document(spread: Spread) -> dict[str, Any]:
    return {"count": spread.count, "p50Seconds": spread.p50, "p90Seconds": spread.p90, "maxSeconds": spread.max}


def pages_document(pages: HoursSplit) -> dict[str, int]:
    return {
        "total": pages.total,
        "workingHours": pages.working,
        "outOfHours": pages.out_of_hours,
        "weekend": pages.weekend,
    }


def figures_document(group: GroupFigures) -> dict[str, Any]:
    a = group.alerts
    return {
        "group": group.name,
        "alertsFired": a.alerts,
        "refired": a.refired,
        "incidents": group.incidents,
        "acknowledged": a.acknowledged,
        "resolvedUnacknowledged": a.resolved_unacknowledged,
        "firingUnacknowledged": a.firing_unacknowledged,
        "escalations": a.escalations,
        "deadlinesMissed": a.deadlines_missed,
        "timeToAcknowledge": spread_document(a.time_to_ack),
        "timeToResolve": spread_document(a.time_to_resolve),
        "pages": pages_document(group.pages),
        "pageShare": group.page_share,
    }


def summary_document(report: Report) -> dict[str, Any]:
    return {
        "window": window_document(report),
        "totals": figures_document(report.total),
        "groups": [figures_document(g) for g in report.groups],
        "deadlines": [
            {
                "priority": d.priority,
                "ackDeadlineSeconds": d.ack_deadline,
                "alertsFired": d.alerts,
                "deadlinesMissed": d.deadlines_missed,
                "escalations": d.escalations,
            }
            for d in report.deadlines
        ],
    }


def hours_document(report: Report) -> dict[str, Any]:
    return {
        "window": window_document(report),
        "pages": pages_document(report.total.pages),
        "days": [{"date": d.day.isoformat(), **pages_document(d.pages)} for d in report.days],
        "week": {WEEKDAYS[day]: list(hours) for day, hours in enumerate(report.week)},
    }


def noisiest_document(report: Report) -> dict[str, Any]:
    return {
        "window": window_document(report),
        "allPages": report.all_pages,
        "alerts": [
            {"alertname": n.alertname, "service": n.service, "pages": n.pages, "share": n.share}
            for n in report.noisiest
        ],
    }


def flapping_document(report: Report) -> dict[str, Any]:
    return {
        "window": window_document(report),
        "flappingAlerts": report.flapping_alerts,
        "firedAlerts": report.fired_alerts,
        "cyclesPerAlertPerDay": report.cycles_per_alert_per_day,
        "alerts": [
            {
                "fingerprint": f.alert.fingerprint,
                "alertname": f.alert.alertname,
                "service": f.alert.service,
                "priority": f.alert.priority,
                "cycles": f.alert.cycles,
                "cyclesPerDay": f.cycles_per_day,
            }
            for f in report.flapping
        ],
    }


def report_document(report: Report) -> dict[str, Any]:
    """Everything the report read, in one document."""
    summary = summary_document(report)
    for part in (hours_document(report), noisiest_document(report), flapping_document(report)):
        summary.update({k: v for k, v in part.items() if k != "window"})
    return summary
