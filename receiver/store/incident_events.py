"""An incident's opening and resolution as domain events (CloudEvents on ``monitoring.events``).

``IncidentOpened`` when an incident opens (and again, numbered, each time it reopens within the
cool-down); ``IncidentResolved`` when its last alert resolved, or when it merged into another
(``merged_into``). Ids are uuid5 of (incident key, type, how many times it reopened before), so a
replayed webhook is the same event. Aggregate and correlation id: the incident's key. Pure.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from monitoring.catalogue import PUBLISHER, IncidentOpened, IncidentResolved, Payload, Priority
from monitoring.cloudevents import CloudEvent, new_event
from receiver.store.alert_events import EVENT_ID_NAMESPACE


@dataclass(frozen=True)
class IncidentFacts:
    id: int
    key: str
    title: str
    priority: str
    part: str | None
    cause_alert_id: int
    opened_at: float
    reopened: int  # times it reopened before this event


def event_id(key: str, event_type: str, reopened: int) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"incident|{key}|{event_type}|{reopened}"))


def _priority(value: str) -> Priority:
    priority: Priority = value  # type: ignore[assignment]  # routing decided one of the four
    return priority


def _event(facts: IncidentFacts, event_type: str, at: float, data: Payload, traceparent: str | None) -> CloudEvent:
    return new_event(
        id=event_id(facts.key, event_type, facts.reopened),
        type=event_type,
        source=PUBLISHER[event_type],
        time=datetime.fromtimestamp(at, UTC),
        data=data,
        aggregateid=facts.key,
        correlationid=facts.key,
        traceparent=traceparent,
    )


def opened(facts: IncidentFacts, at: float, traceparent: str | None) -> CloudEvent:
    data = IncidentOpened(
        incident_id=str(facts.id),
        title=facts.title,
        priority=_priority(facts.priority),
        part=facts.part,
        cause_alert_id=str(facts.cause_alert_id),
        opened_at=datetime.fromtimestamp(facts.opened_at, UTC),
        reopened=facts.reopened,
    )
    return _event(facts, "IncidentOpened", at, data, traceparent)


def resolved(
    facts: IncidentFacts, at: float, alerts: int, merged_into: int | None, traceparent: str | None
) -> CloudEvent:
    data = IncidentResolved(
        incident_id=str(facts.id),
        title=facts.title,
        priority=_priority(facts.priority),
        part=facts.part,
        opened_at=datetime.fromtimestamp(facts.opened_at, UTC),
        resolved_at=datetime.fromtimestamp(at, UTC),
        duration_seconds=max(0.0, at - facts.opened_at),
        alerts=alerts,
        merged_into=None if merged_into is None else str(merged_into),
        reopened=facts.reopened,
    )
    return _event(facts, "IncidentResolved", at, data, traceparent)
