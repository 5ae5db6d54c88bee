"""From Alertmanager's notifications to the pages people get: the receiver's routing policy.

Webhook integrations are taken to be this project's receiver. It keeps one record per alert
(labels, ``startsAt``) and queues a message on every channel the policy gives the alert's
priority (``RoutingPolicy.channels_for``) when the alert is new, when it resolves, and when it
fires again or its labels or annotations changed (an annotation quoting ``$value`` re-pages
at each notification that carries a new value). The Watchdog is the dead man's switch's
heartbeat (``receiver.operations.is_watchdog``): never paged. Every other integration
(PagerDuty from Alertmanager directly, …) is a page of its own on the channel
``<kind> (Alertmanager)``.

Between the dispatcher and this step sits the seam for more stages over notifications
(``NotificationStage``): the incident grouping of [Q2] plugs in there, in ``backtest.run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ops.rules.dispatch import Notification
from ops.rules.evaluation import Labels
from receiver.config.routing import RoutingPolicy, priority_from_labels
from receiver.operations import is_watchdog

DIRECT = " (Alertmanager)"

NotificationStage = Callable[[Sequence[Notification]], Sequence[Notification]]


@dataclass(frozen=True)
class Page:
    at: float
    channel: str
    action: str  # trigger | resolve
    priority: str
    labels: Labels
    starts_at: float
    rule: str
    racy: bool = False  # its notification hinges on a resolution racing the flush (``Notification.racy``)

    @property
    def alertname(self) -> str:
        return dict(self.labels).get("alertname", "")


def pages(notifications: Sequence[Notification], policy: RoutingPolicy) -> list[Page]:
    """The messages each channel would have sent, in time order."""
    records: dict[tuple[Labels, float], tuple[bool, tuple[tuple[str, str], ...]]] = {}
    out: list[Page] = []
    for note in sorted(notifications, key=lambda n: n.at):
        if note.integration != "webhook":
            first = (note.firing or note.resolved)[0]
            priority, _ = priority_from_labels(first.label_map)
            action = "trigger" if note.firing else "resolve"
            page = Page(
                note.at,
                note.integration + DIRECT,
                action,
                priority.value,
                first.labels,
                first.starts_at,
                first.rule,
                note.racy,
            )
            out.append(page)
            continue
        for alert, firing in [(a, True) for a in note.firing] + [(a, False) for a in note.resolved]:
            labels = alert.label_map
            if is_watchdog(labels):
                continue
            content = tuple(sorted(alert.annotations(note.at).items()))
            key = (alert.labels, alert.starts_at)
            previous = records.get(key)
            records[key] = (firing, content)
            if previous is None:
                action = "trigger" if firing else "resolve"
            elif previous[0] and not firing:
                action = "resolve"
            elif firing and (not previous[0] or previous[1] != content):
                action = "trigger"
            else:
                continue
            priority, _ = priority_from_labels(labels)
            for channel in policy.channels_for(labels, priority):
                page = Page(
                    note.at, channel, action, priority.value, alert.labels, alert.starts_at, alert.rule, note.racy
                )
                out.append(page)
    return out


def apply_stages(notifications: Sequence[Notification], stages: Sequence[NotificationStage]) -> Sequence[Notification]:
    for stage in stages:
        notifications = stage(notifications)
    return notifications


def received(notifications: Sequence[Notification]) -> Mapping[tuple[Labels, float], float]:
    """(labels, starts_at) of every alert that reached the receiver -> the first time it did.

    Firing or resolved: the receiver records both (an alert resolved before its group's first
    flush arrives resolved on the next one).
    """
    out: dict[tuple[Labels, float], float] = {}
    for note in notifications:
        if note.integration == "webhook":
            for alert in (*note.firing, *note.resolved):
                out.setdefault((alert.labels, alert.starts_at), note.at)
    return out
