"""Alerts: active alerts by priority, history with MTTA and MTTR, SLA breaches, notification failures,
and the receiver's own intake and domain events (what its meta alerts' dashboard links show).

History panels read the receiver's alert history in PostgreSQL (receiver/store/migrations.py).
Times there are epoch seconds. MTTA is ``acked_at - starts_at`` and MTTR
``resolved_at - starts_at`` (``starts_at`` is when Prometheus started the alert). An SLA
breach is an alert that was escalated: it stayed unacknowledged past its priority's
``ack_deadline`` in the receiver's routing policy.
"""

# ruff: noqa: S608 - the SQL here is Grafana panel text built from constants; Python never runs it

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.datasources import Sql
from grafana.panels import PanelBuilder, build, graph, grid, prom, runbook, single, traces

UID = "alerts"
VERSION = 2
FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog", service=~"$service"}'
IN_RANGE = "$__unixEpochFilter(starts_at) AND alertname <> 'Watchdog' AND service ~ '^(${service:regex})$'"

HISTORY = f"""SELECT to_timestamp(starts_at) AS "started", alertname, priority, service, status,
       to_timestamp(acked_at) AS "acknowledged", acked_by, to_timestamp(resolved_at) AS "resolved", escalations
FROM alerts WHERE {IN_RANGE}
ORDER BY starts_at DESC LIMIT 500"""

PER_DAY = f"""SELECT to_timestamp(floor(starts_at / 86400) * 86400) AS time, priority AS metric, count(*) AS value
FROM alerts WHERE {IN_RANGE}
GROUP BY 1, 2 ORDER BY 1"""

MTTA_MTTR = f"""SELECT priority,
       count(*) AS alerts,
       avg(acked_at - starts_at) FILTER (WHERE acked_at IS NOT NULL) AS "MTTA",
       avg(resolved_at - starts_at) FILTER (WHERE resolved_at IS NOT NULL) AS "MTTR",
       count(*) FILTER (WHERE acked_at IS NULL AND status = 'firing') AS "firing, unacknowledged"
FROM alerts WHERE {IN_RANGE}
GROUP BY priority ORDER BY priority"""

MTTA_MTTR_TREND = f"""SELECT to_timestamp(floor(starts_at / 86400) * 86400) AS time,
       avg(acked_at - starts_at) AS "MTTA", avg(resolved_at - starts_at) AS "MTTR"
FROM alerts WHERE {IN_RANGE} AND (acked_at IS NOT NULL OR resolved_at IS NOT NULL)
GROUP BY 1 ORDER BY 1"""

SLA_BREACHES = f"""SELECT priority, count(*) AS breaches, sum(escalations) AS escalations
FROM alerts WHERE {IN_RANGE} AND escalations > 0
GROUP BY priority ORDER BY priority"""

SLA_BREACH_COUNT = f"""SELECT count(*) AS "SLA breaches" FROM alerts WHERE {IN_RANGE} AND escalations > 0"""

NOTIFICATION_FAILURES = """SELECT o.channel,
       count(*) AS jobs,
       count(*) FILTER (WHERE o.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE o.state = 'dead') AS "dead-lettered",
       coalesce(sum(o.attempts - 1) FILTER (WHERE o.attempts > 1), 0) AS "failed attempts",
       max(o.last_error) FILTER (WHERE o.state = 'dead') AS "a last error"
FROM outbox o WHERE $__unixEpochFilter(o.created_at)
GROUP BY o.channel ORDER BY o.channel"""

FAILED_DELIVERIES = """SELECT to_timestamp(at) AS time, t.channel, a.alertname, a.priority, t.kind, t.detail
FROM timeline t JOIN alerts a ON a.id = t.alert_id
WHERE $__unixEpochFilter(t.at) AND t.kind IN ('delivery_failed', 'dead_letter')
ORDER BY t.at DESC LIMIT 200"""


def dashboard() -> Dashboard:
    active: list[PanelBuilder] = [
        single(
            "Firing alerts",
            "Alerts firing now in Prometheus (Watchdog left out).",
            [prom(f"count({FIRING})", "firing")],
            "none",
            thresholds=[(None, "green"), (1, "orange")],
        ),
        graph(
            "Active alerts by priority",
            "Firing alerts per priority label.",
            [prom(f"count by (priority) ({FIRING})", "{{priority}}")],
            "none",
            stacked=True,
            width=18,
        ),
        grid(
            "Firing now",
            "Every firing alert with its labels; each alert's runbook is linked from its notification.",
            [prom(FIRING, "", instant=True)],
            width=24,
        ),
    ]
    history: list[PanelBuilder] = [
        graph(
            "Alerts per day by priority",
            "Alerts the receiver recorded, per day and priority.",
            [Sql(PER_DAY, time_series=True)],
            "none",
            stacked=True,
        ),
        graph(
            "MTTA and MTTR trend",
            "Mean time to acknowledge and to resolve, per day.",
            [Sql(MTTA_MTTR_TREND, time_series=True)],
            "s",
        ),
        grid("MTTA and MTTR by priority", "Counts, mean times to acknowledge and resolve.", [Sql(MTTA_MTTR)], unit="s"),
        grid(
            "Alert history",
            "The most recent alerts in the time range.",
            [Sql(HISTORY)],
            links=[traces("monitoring-receiver")],
        ),
    ]
    sla: list[PanelBuilder] = [
        single(
            "SLA breaches",
            "Alerts not acknowledged within their priority's ack deadline (escalated).",
            [Sql(SLA_BREACH_COUNT)],
            "none",
            thresholds=[(None, "green"), (1, "red")],
        ),
        grid(
            "SLA breaches by priority",
            "Breached alerts and escalations sent, per priority.",
            [Sql(SLA_BREACHES)],
            width=6,
        ),
        graph(
            "Escalations",
            "Unacknowledged alerts escalated past their deadline, per second.",
            [prom("sum(rate(receiver_escalations_total[$__rate_interval]))", "escalations")],
            "ops",
        ),
    ]
    notifications: list[PanelBuilder] = [
        graph(
            "Failed delivery attempts by channel",
            "Notification attempts that failed, per channel (each is retried until the budget is spent).",
            [prom("sum by (channel) (rate(receiver_notifications_failed_total[$__rate_interval]))", "{{channel}}")],
            "ops",
            links=[runbook("notificationfailures", "NotificationFailures"), traces("monitoring-receiver")],
            width=8,
        ),
        graph(
            "Notifications sent by channel",
            "Delivered notifications per channel.",
            [prom("sum by (channel) (rate(receiver_notifications_sent_total[$__rate_interval]))", "{{channel}}")],
            "ops",
            width=8,
        ),
        graph(
            "Outbox",
            "Jobs not yet delivered, the oldest one's age, and dead letters.",
            [
                prom("sum(receiver_outbox_pending_jobs)", "pending"),
                prom("max(receiver_outbox_oldest_pending_age_seconds)", "oldest pending (s)"),
                prom("sum(receiver_dead_letters_total)", "dead letters (total)"),
            ],
            "short",
            links=[
                runbook("outboxstuck", "OutboxStuck"),
                runbook("notificationsdeadlettered", "NotificationsDeadLettered"),
            ],
            width=8,
        ),
        grid(
            "Notification outcomes by channel",
            "Outbox jobs per channel: delivered, dead-lettered, failed attempts.",
            [Sql(NOTIFICATION_FAILURES)],
            links=[runbook("notificationfailures", "NotificationFailures")],
        ),
        grid(
            "Failed deliveries",
            "The latest failed attempts and dead letters from the alert timeline.",
            [Sql(FAILED_DELIVERIES)],
            links=[runbook("notificationsdeadlettered", "NotificationsDeadLettered")],
        ),
    ]
    pipeline: list[PanelBuilder] = [
        graph(
            "Webhooks refused by reason",
            "Alertmanager webhooks the receiver refused, per reason (overload: every intake slot busy, 503).",
            [prom("sum by (reason) (rate(receiver_webhooks_rejected_total[$__rate_interval]))", "{{reason}}")],
            "ops",
            links=[runbook("receiveroverloaded", "ReceiverOverloaded")],
            width=8,
        ),
        graph(
            "Domain events waiting",
            "Age of the oldest domain event in the receiver's outbox not yet published to Kafka or stored.",
            [prom("max by (stage) (receiver_domain_events_oldest_pending_age_seconds)", "{{stage}}")],
            "s",
            links=[runbook("domaineventsdelayed", "DomainEventsDelayed")],
            width=8,
        ),
        graph(
            "Domain events dropped",
            "Domain events the exporter's full spool dropped (Kafka or the event store unreachable too long).",
            [prom("sum(increase(monitoring_domain_events_dropped_total[$__rate_interval]))", "dropped")],
            "none",
            links=[runbook("domaineventsdropped", "DomainEventsDropped")],
            width=8,
        ),
    ]
    return build(
        UID,
        "Alerts",
        "Active alerts by priority, alert history with MTTA and MTTR, SLA breaches, notification failures, "
        "and the receiver's intake and domain events.",
        VERSION,
        [
            ("Active alerts", active),
            ("History, MTTA and MTTR", history),
            ("SLA breaches", sla),
            ("Notification failures", notifications),
            ("Receiver intake and domain events", pipeline),
        ],
    )
