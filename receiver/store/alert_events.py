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

import hashlib
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
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
UNNAMED = "unnamed"  # catalogue names are non-empty; an alert without the label gets this
# Annotations that are links, and the key each gets in ``links``; any other ``*_url`` annotation
# is a link too, under its name without the suffix.
LINK_ANNOTATIONS = {"runbook_url": "runbook", "dashboard": "dashboard", "dashboard_url": "dashboard"}


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))``, without building UUID objects: a webhook of ten
    new alerts asks for twenty of these, and the uuid module's were a tenth of its intake CPU."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])  # noqa: S324 - RFC 4122 uuid5
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _firing(fingerprint: str, starts_at: datetime) -> str:
    """The name of one firing of one alert, from which its events' ids and correlation id derive."""
    return f"{fingerprint}|{starts_at.isoformat()}"


def event_id(fingerprint: str, starts_at: float, event_type: str) -> str:
    return _uuid5(f"{_firing(fingerprint, datetime.fromtimestamp(starts_at, UTC))}|{event_type}")


def correlation_id(fingerprint: str, starts_at: float) -> str:
    """One firing of one alert: shared by its AlertCreated, ThresholdExceeded and AlertResolved."""
    return _uuid5(_firing(fingerprint, datetime.fromtimestamp(starts_at, UTC)))


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


def _event(
    obs: Observation, event_type: str, at: datetime, data: Payload, traceparent: str | None, firing: str
) -> CloudEvent:
    """``firing``: ``_firing(...)`` of the observation, worked out once for all the firing's events."""
    return new_event(
        id=_uuid5(f"{firing}|{event_type}"),
        type=event_type,
        source=PUBLISHER[event_type],
        time=at,
        data=data,
        aggregateid=obs.fingerprint,
        correlationid=_uuid5(firing),
        traceparent=traceparent,
    )


def fired(alert_id: int, obs: Observation, traceparent: str | None) -> list[CloudEvent]:
    """The events of an alert first recorded firing."""
    alertname = obs.alertname or UNNAMED
    service = obs.service or UNNAMED
    starts_at = datetime.fromtimestamp(obs.starts_at, UTC)
    firing = _firing(obs.fingerprint, starts_at)
    created = AlertCreated(
        alert_id=str(alert_id),
        fingerprint=obs.fingerprint,
        alertname=alertname,
        priority=_priority(obs),
        service=service,
        labels=obs.labels,
        annotations=obs.annotations,
        starts_at=starts_at,
    )
    events = [_event(obs, "AlertCreated", starts_at, created, traceparent, firing)]
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
        events.append(_event(obs, "ThresholdExceeded", starts_at, exceeded, traceparent, firing))
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
        events.append(_event(obs, "PerformanceAnomaly", starts_at, anomaly, traceparent, firing))
    return events


def resolved(alert_id: int, obs: Observation, resolved_at: float, traceparent: str | None) -> CloudEvent:
    """The event of an alert recorded resolved at ``resolved_at``."""
    at = datetime.fromtimestamp(resolved_at, UTC)
    data = AlertResolved(
        alert_id=str(alert_id),
        fingerprint=obs.fingerprint,
        alertname=obs.alertname or UNNAMED,
        priority=_priority(obs),
        service=obs.service or UNNAMED,
        resolved_at=at,
        duration_seconds=max(0.0, resolved_at - obs.starts_at),
    )
    firing = _firing(obs.fingerprint, datetime.fromtimestamp(obs.starts_at, UTC))
    return _event(obs, "AlertResolved", at, data, traceparent, firing)
