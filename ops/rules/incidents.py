"""Incident grouping in a backtest: the receiver's incidents (docs/alerting.md, "Incidents") as a
stage over Alertmanager's notifications (``receiver_policy.NotificationStage``).

The receiver pages once per incident: the alert that opens one, and an alert that raises its
priority, page; every other alert joins it as a follow-up, which is not a page. Its resolve goes
out when the incident's last alert resolved. This stage keeps, of what reaches the receiver, the
firings that page and the resolves of the alerts that paged at the moment their incident resolves,
so that ``receiver_policy.pages`` counts what people would have been paged. The rules are the
receiver's own (``receiver.operations.incident_replay``), over the same topology file.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence

from ops.rules.dispatch import Alert, Notification
from ops.rules.evaluation import Labels
from ops.rules.receiver_policy import NotificationStage
from receiver.config.routing import priority_from_labels
from receiver.operations import UPDATE, IncidentReplay, is_watchdog

Key = tuple[Labels, float]  # an alert's episode: its labels and startsAt, as the receiver keys it


def fingerprint(labels: Labels) -> str:
    """A stand-in for Alertmanager's fingerprint: stable for a label set (it names unmatched alerts)."""
    return hashlib.sha256(repr(sorted(labels)).encode()).hexdigest()[:16]


def incident_stage(new_replay: Callable[[], IncidentReplay]) -> NotificationStage:
    """The stage; each run (the candidate rules', the baseline's) replays its alerts from no incident."""

    def stage(notifications: Sequence[Notification]) -> Sequence[Notification]:
        replay = new_replay()
        paging: dict[Key, bool] = {}  # episode -> whether it paged (opened or escalated its incident)
        resolved: set[Key] = set()
        alerts: dict[Key, Alert] = {}
        out: list[Notification] = []
        for note in sorted(notifications, key=lambda n: n.at):
            if note.integration != "webhook":  # Alertmanager paging directly: no receiver, no incidents
                out.append(note)
                continue
            firing: list[Alert] = []
            for alert in note.firing:
                key = (alert.labels, alert.starts_at)
                labels = alert.label_map
                if key not in paging and not is_watchdog(labels):
                    priority, _ = priority_from_labels(labels)
                    _, outcome = replay.fire(key, labels, fingerprint(alert.labels), priority.value, note.at)
                    paging[key] = outcome != UPDATE
                    alerts[key] = alert
                if paging.get(key, True):
                    firing.append(alert)
            told: list[Alert] = []
            for alert in note.resolved:
                key = (alert.labels, alert.starts_at)
                if key not in paging:  # first seen resolved: the receiver records it on its own
                    told.append(alert)
                    continue
                if key in resolved:
                    continue
                resolved.add(key)
                incident = replay.resolve(key, note.at)
                if incident is not None:  # its last alert: the resolve of every alert of it that paged
                    told += [a for k, a in alerts.items() if paging[k] and replay.incident_of(k) == incident]
            out.append(dataclasses.replace(note, firing=tuple(firing), resolved=tuple(told)))
        return out

    return stage
