"""What an alert's arrival and resolution mean as domain events (CloudEvents on ``monitoring.events``).

- an alert first recorded firing: ``AlertCreated``, and also ``ThresholdExceeded`` for
  ``kind=threshold`` or ``PerformanceAnomaly`` for ``kind=anomaly``;
- an alert recorded resolved (firing before, or first seen resolved): ``AlertResolved``.

Ids are uuid5 of (fingerprint, startsAt, event type): an Alertmanager resend or a replay is
the same event, which the outbox, the event store and consumers all skip by id. The
aggregate is the fingerprint; the correlation id names one firing of the alert (fingerprint
and startsAt), shared by that firing's events. Pure functions: no I/O.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from monitoring.catalogue import (
    PUBLISHER,
    AlertCreated,
    AlertResolved,
    Payload,
    PerformanceAnomaly,
    Priority,
    ThresholdExceeded,
)
from monitoring.cloudevents import CloudEvent, new_event
from receiver.store.history import Observation

# Namespace of the receiver's event ids (uuid5 of fingerprint, startsAt and type).
EVENT_ID_NAMESPACE = uuid.UUID("0c4d7a52-2f7e-4b8e-8a43-91e6f0d1c2b7")
UNNAMED = "unnamed"  # catalogue names are non-empty; an alert without the label gets this
# Annotations that are links, and the key each gets in ``links``; any other ``*_url`` annotation
# is a link too, under its name without the suffix.
LINK_ANNOTATIONS = {"runbook_url": "runbook", "dashboard": "dashboard", "dashboard_url": "dashboard"}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def event_id(fingerprint: str, starts_at: float, event_type: str) -> str:
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{fingerprint}|{_iso(starts_at)}|{event_type}"))


def correlation_id(fingerprint: str, starts_at: float) -> str:
    """One firing of one alert: shared by its AlertCreated, ThresholdExceeded and AlertResolved."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{fingerprint}|{_iso(starts_at)}"))


def links(obs: Observation) -> dict[str, str]:
    found = {"generator": obs.generator_url} if obs.generator_url else {}
    for key, value in sorted(obs.annotations.items()):
        if not value:
            continue
        if key in LINK_ANNOTATIONS:
            found[LINK_ANNOTATIONS[key]] = value
        elif key.endswith("_url"):
            found[key.removesuffix("_url")] = value
    return found


def _value(obs: Observation) -> str | None:
    return obs.annotations.get("value") or obs.labels.get("value")


def _priority(obs: Observation) -> Priority:
    priority: Priority = obs.priority  # type: ignore[assignment]  # routing decided one of the four
    return priority


def _event(obs: Observation, event_type: str, at: float, data: Payload, traceparent: str | None) -> CloudEvent:
    return new_event(
        id=event_id(obs.fingerprint, obs.starts_at, event_type),
        type=event_type,
        source=PUBLISHER[event_type],
        time=datetime.fromtimestamp(at, UTC),
        data=data,
        aggregateid=obs.fingerprint,
        correlationid=correlation_id(obs.fingerprint, obs.starts_at),
        traceparent=traceparent,
    )


def fired(alert_id: int, obs: Observation, traceparent: str | None) -> list[CloudEvent]:
    """The events of an alert first recorded firing."""
    alertname = obs.alertname or UNNAMED
    service = obs.service or UNNAMED
    created = AlertCreated(
        alert_id=str(alert_id),
        fingerprint=obs.fingerprint,
        alertname=alertname,
        priority=_priority(obs),
        service=service,
        labels=obs.labels,
        annotations=obs.annotations,
        starts_at=datetime.fromtimestamp(obs.starts_at, UTC),
    )
    events = [_event(obs, "AlertCreated", obs.starts_at, created, traceparent)]
    kind = obs.labels.get("kind")
    if kind == "threshold":
        exceeded = ThresholdExceeded(
            alert_id=str(alert_id),
            alertname=alertname,
            priority=_priority(obs),
            service=service,
            labels=obs.labels,
            value=_value(obs),
            links=links(obs),
        )
        events.append(_event(obs, "ThresholdExceeded", obs.starts_at, exceeded, traceparent))
    elif kind == "anomaly":
        anomaly = PerformanceAnomaly(
            alert_id=str(alert_id),
            alertname=alertname,
            service=service,
            metric=obs.labels.get("metric") or alertname,
            labels=obs.labels,
            value=_value(obs),
            links=links(obs),
        )
        events.append(_event(obs, "PerformanceAnomaly", obs.starts_at, anomaly, traceparent))
    return events


def resolved(alert_id: int, obs: Observation, resolved_at: float, traceparent: str | None) -> CloudEvent:
    """The event of an alert recorded resolved at ``resolved_at``."""
    data = AlertResolved(
        alert_id=str(alert_id),
        fingerprint=obs.fingerprint,
        alertname=obs.alertname or UNNAMED,
        priority=_priority(obs),
        service=obs.service or UNNAMED,
        resolved_at=datetime.fromtimestamp(resolved_at, UTC),
        duration_seconds=max(0.0, resolved_at - obs.starts_at),
    )
    return _event(obs, "AlertResolved", resolved_at, data, traceparent)
