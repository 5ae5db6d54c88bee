"""Alert quality: pages (in and out of working hours), time to acknowledge and resolve, noise, flapping.

Every panel reads the receiver's alert history in PostgreSQL with the definitions of the receiver's
reports (receiver/store/reports.py, docs/receiver.md "Alert-quality reports"), so that the dashboard
and ``GET /api/v1/reports/summary`` give the same figures for the same window:

- an alert counts in the time range when the receiver first saw it there (``first_seen``); a page
  when it was delivered there: an outbox job ``delivered`` with action ``trigger`` or ``escalate``
  on a paging channel (``$paging_channels``; the receiver's own list is the routing policy's
  ``paging_channels``, pagerduty and sms by default);
- acknowledged means before it resolved; durations count from ``first_seen``, never below 0;
  percentiles are nearest rank (``percentile_disc``), as the reports' are;
- an incident counts when it was opened in the time range, unless it was merged into another (it never
  paged on its own); ``$service`` is its probable cause's;
- local time is ``$tz`` (default Asia/Seoul), working hours ``$working_start``-``$working_end``
  (start included, end excluded) on ``$working_days``.

Grafana's ``$__unixEpochFilter`` includes the range's end; the reports' window excludes it.
"""

# ruff: noqa: S608 - the SQL here is Grafana panel text built from constants; Python never runs it

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as boards
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model

from grafana.datasources import Sql
from grafana.panels import PanelBuilder, build, graph, grid, single

UID = "alert-quality"
VERSION = 2
SERVICE = "a.service ~ '^(${service:regex})$'"
ALERTS_IN_RANGE = f"$__unixEpochFilter(a.first_seen) AND {SERVICE}"
PAGES = (
    "FROM outbox o JOIN alerts a ON a.id = o.alert_id WHERE o.state = 'delivered'"
    " AND o.action IN ('trigger', 'escalate') AND o.channel IN (${paging_channels:sqlstring})"
    f" AND $__unixEpochFilter(o.delivered_at) AND {SERVICE}"
)
LOCAL = "(to_timestamp(o.delivered_at) AT TIME ZONE ${tz:sqlstring})"
KIND = (
    f"CASE WHEN extract(isodow FROM {LOCAL}) NOT IN (${{working_days:csv}}) THEN 'weekend'"
    f" WHEN {LOCAL}::time >= ${{working_start:sqlstring}}::time AND {LOCAL}::time < ${{working_end:sqlstring}}::time"
    " THEN 'working hours' ELSE 'out of hours' END"
)
ACKNOWLEDGED = "a.acked_at IS NOT NULL AND (a.resolved_at IS NULL OR a.acked_at <= a.resolved_at)"
TIME_TO_ACK = "GREATEST(a.acked_at - a.first_seen, 0)"
TIME_TO_RESOLVE = "GREATEST(a.resolved_at - a.first_seen, 0)"

PAGE_COUNT = f"SELECT count(*) AS pages {PAGES}"

PAGES_OUT_OF_HOURS = f"""SELECT count(*) FILTER (WHERE {KIND} <> 'working hours') AS "out of hours or weekend"
{PAGES}"""

ALERTS_FIRED = f"SELECT count(*) AS alerts FROM alerts a WHERE {ALERTS_IN_RANGE}"

ACKNOWLEDGED_SHARE = f"""SELECT count(*) FILTER (WHERE {ACKNOWLEDGED})::float8 / NULLIF(count(*), 0) AS acknowledged
FROM alerts a WHERE {ALERTS_IN_RANGE}"""

INCIDENTS = f"""SELECT count(*) AS incidents FROM incidents i JOIN alerts a ON a.id = i.cause_alert_id
WHERE $__unixEpochFilter(i.opened_at) AND i.status <> 'merged' AND {SERVICE}"""

RESOLVED_UNACKNOWLEDGED = f"""SELECT count(*) AS "resolved, nobody acknowledged"
FROM alerts a WHERE {ALERTS_IN_RANGE} AND a.resolved_at IS NOT NULL AND NOT ({ACKNOWLEDGED})"""

DEADLINES_MISSED = f"""SELECT count(*) FILTER (WHERE a.escalations > 0) AS "deadlines missed"
FROM alerts a WHERE {ALERTS_IN_RANGE}"""

PAGES_PER_DAY = f"""SELECT (date_trunc('day', {LOCAL}) AT TIME ZONE ${{tz:sqlstring}}) AS time, {KIND} AS metric,
       count(*) AS value
{PAGES}
GROUP BY 1, 2 ORDER BY 1, 2"""

PAGES_BY_HOUR = f"""SELECT extract(hour FROM {LOCAL})::int AS "hour",
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 1) AS mon,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 2) AS tue,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 3) AS wed,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 4) AS thu,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 5) AS fri,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 6) AS sat,
       count(*) FILTER (WHERE extract(isodow FROM {LOCAL}) = 7) AS sun
{PAGES}
GROUP BY 1 ORDER BY 1"""

DURATIONS = f"""SELECT a.priority,
       count(*) AS alerts,
       count(*) FILTER (WHERE {ACKNOWLEDGED}) AS acknowledged,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY {TIME_TO_ACK}) FILTER (WHERE {ACKNOWLEDGED}) AS "to ack p50",
       percentile_disc(0.9) WITHIN GROUP (ORDER BY {TIME_TO_ACK}) FILTER (WHERE {ACKNOWLEDGED}) AS "to ack p90",
       max({TIME_TO_ACK}) FILTER (WHERE {ACKNOWLEDGED}) AS "to ack max",
       percentile_disc(0.5) WITHIN GROUP (ORDER BY {TIME_TO_RESOLVE}) FILTER (WHERE a.resolved_at IS NOT NULL)
         AS "to resolve p50",
       percentile_disc(0.9) WITHIN GROUP (ORDER BY {TIME_TO_RESOLVE}) FILTER (WHERE a.resolved_at IS NOT NULL)
         AS "to resolve p90",
       max({TIME_TO_RESOLVE}) FILTER (WHERE a.resolved_at IS NOT NULL) AS "to resolve max"
FROM alerts a WHERE {ALERTS_IN_RANGE}
GROUP BY a.priority ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], a.priority), a.priority"""

DEADLINES = f"""SELECT a.priority, count(*) AS alerts,
       count(*) FILTER (WHERE a.resolved_at IS NOT NULL AND NOT ({ACKNOWLEDGED})) AS "resolved, nobody acknowledged",
       count(*) FILTER (WHERE a.resolved_at IS NULL AND a.acked_at IS NULL) AS "firing, unacknowledged",
       sum(a.escalations) AS escalations, count(*) FILTER (WHERE a.escalations > 0) AS "deadlines missed"
FROM alerts a WHERE {ALERTS_IN_RANGE}
GROUP BY a.priority ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], a.priority), a.priority"""

NOISIEST = f"""SELECT a.alertname, a.service, count(*) AS pages,
       count(*)::float8 / sum(count(*)) OVER () AS "share of pages"
{PAGES}
GROUP BY a.alertname, a.service ORDER BY pages DESC, a.alertname, a.service LIMIT 10"""

FLAPPING = f"""WITH cycles AS (
  SELECT a.fingerprint, a.alertname, a.service, a.priority FROM alerts a WHERE {ALERTS_IN_RANGE}
  UNION ALL
  SELECT a.fingerprint, a.alertname, a.service, a.priority FROM timeline t JOIN alerts a ON a.id = t.alert_id
  WHERE t.kind = 'refired' AND $__unixEpochFilter(t.at) AND {SERVICE}
)
SELECT max(alertname) AS alertname, max(service) AS service, max(priority) AS priority, count(*) AS cycles,
       count(*) / (extract(epoch FROM $__timeTo()::timestamptz - $__timeFrom()::timestamptz) / 86400) AS "per day",
       fingerprint
FROM cycles GROUP BY fingerprint HAVING count(*) >= 2
ORDER BY cycles DESC, alertname, fingerprint LIMIT 20"""

WEEKDAY_VALUES = "mon : 1, tue : 2, wed : 3, thu : 4, fri : 5, sat : 6, sun : 7"
CHANNELS = "pagerduty, sms, slack, email, webhook, file, console"


def variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    """Where and when the on-call team works, and which channels page: set them like the receiver's
    RECEIVER_REPORT_* settings and routing policy."""
    return [
        boards.TextBoxVariable("tz")
        .label("Time zone")
        .description("IANA time zone of the on-call team (the receiver's RECEIVER_REPORT_TIMEZONE)")
        .default_value("Asia/Seoul"),
        boards.TextBoxVariable("working_start").label("Working hours from").default_value("09:00"),
        boards.TextBoxVariable("working_end").label("to").default_value("18:00"),
        boards.CustomVariable("working_days")
        .label("Working days")
        .values(WEEKDAY_VALUES)
        .multi(True)
        .current(
            model.VariableOption(
                selected=True, text=["mon", "tue", "wed", "thu", "fri"], value=["1", "2", "3", "4", "5"]
            )
        ),
        boards.CustomVariable("paging_channels")
        .label("Paging channels")
        .description("Channels that interrupt a person (the routing policy's paging_channels)")
        .values(CHANNELS)
        .multi(True)
        .current(model.VariableOption(selected=True, text=["pagerduty", "sms"], value=["pagerduty", "sms"])),
    ]


def dashboard() -> model.Dashboard:
    pages: list[PanelBuilder] = [
        single(
            "Pages", "Notifications delivered on paging channels (triggers and escalations).", [Sql(PAGE_COUNT)], "none"
        ),
        single(
            "Pages out of hours",
            "Pages outside working hours on working days, or on other days, in the dashboard's time zone.",
            [Sql(PAGES_OUT_OF_HOURS)],
            "none",
            thresholds=[(None, "green"), (1, "orange")],
        ),
        single("Alerts fired", "Alerts the receiver first saw in the time range.", [Sql(ALERTS_FIRED)], "none"),
        single(
            "Acknowledged",
            "Alerts acknowledged before they resolved (or while still firing).",
            [Sql(ACKNOWLEDGED_SHARE)],
            "percentunit",
        ),
        graph(
            "Pages per day",
            "Pages per local day: in working hours, out of hours, on days off.",
            [Sql(PAGES_PER_DAY, time_series=True)],
            "none",
            stacked=True,
            width=16,
        ),
        grid("Pages by hour of day", "Pages per local hour and weekday.", [Sql(PAGES_BY_HOUR)], width=8),
    ]
    response: list[PanelBuilder] = [
        single(
            "Resolved with nobody acknowledging",
            "Alerts that resolved before anyone acknowledged them: a noise signal.",
            [Sql(RESOLVED_UNACKNOWLEDGED)],
            "none",
        ),
        single(
            "Deadlines missed",
            "Alerts escalated: not acknowledged within their priority's ack deadline.",
            [Sql(DEADLINES_MISSED)],
            "none",
            thresholds=[(None, "green"), (1, "red")],
        ),
        grid(
            "Time to acknowledge and resolve by priority",
            "Nearest-rank p50 and p90 and the longest, in seconds from when the receiver first saw the alert.",
            [Sql(DURATIONS)],
            unit="s",
        ),
        grid("Deadlines by priority", "What became of the alerts, escalations and missed deadlines.", [Sql(DEADLINES)]),
        single(
            "Incidents",
            "Incidents opened in the time range (alerts grouped along the platform's dependencies, paged once);"
            " merged ones left out.",
            [Sql(INCIDENTS)],
            "none",
            width=12,
        ),
    ]
    noise: list[PanelBuilder] = [
        grid("Noisiest alerts", "The ten alerts with the most pages and their share of all pages.", [Sql(NOISIEST)]),
        grid(
            "Flapping alerts",
            "Alerts (one fingerprint) that fired at least twice: new firings plus re-fires after resolving.",
            [Sql(FLAPPING)],
        ),
    ]
    return build(
        UID,
        "Alert quality",
        "Pages in and out of working hours, time to acknowledge and resolve, noise and flapping.",
        VERSION,
        [("Pages", pages), ("Response", response), ("Noise", noise)],
        extra_variables=variables(),
    )
