"""What an alert's arrival and resolution mean as domain events (CloudEvents on ``monitoring.events``).

- an alert first recorded firing: ``AlertCreated``, and also ``ThresholdExceeded`` for
  ``kind=threshold`` or ``PerformanceAnomaly`` for ``kind=anomaly``;
- an alert recorded resolved (firing before, or first seen resolved): ``AlertResolved``.

Ids are uuid5 of (fingerprint, startsAt, event type): an Alertmanager resend or a replay is
the same event, which the outbox, the event store and consumers all skip by id. The
aggregate is the fingerprint; the correlation id names one firing of the alert (fingerprint
and startsAt), shared by that firing's events. Pure functions: no I/O.

The alert history records these events by reference (``Deferred``: the event's id, type, alert
and instant), in the transaction that records the alert; the relay builds each event from the
alert's row with ``build`` when it takes it from the outbox (``receiver/store/event_outbox.py``).
``build`` of a reference and ``fired``/``resolved`` of the alert give the same event, byte for byte.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

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

# Namespace of the receiver's event ids (uuid5 of fingerprint, startsAt and type).
EVENT_ID_NAMESPACE = uuid.UUID("0c4d7a52-2f7e-4b8e-8a43-91e6f0d1c2b7")
_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
UNNAMED = "unnamed"  # catalogue names are non-empty; an alert without the label gets this
# Annotations that are links, and the key each gets in ``links``; any other ``*_url`` annotation
# is a link too, under its name without the suffix.
LINK_ANNOTATIONS = {"runbook_url": "runbook", "dashboard": "dashboard", "dashboard_url": "dashboard"}


class Alert(Protocol):
    """What the events say of an alert: an ``Observation`` (a webhook's alert) or ``AlertFacts`` (its row)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def starts_at(self) -> float: ...
    @property
    def alertname(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def annotations(self) -> dict[str, str]: ...
    @property
    def generator_url(self) -> str: ...


class Arrival(Alert, Protocol):
    """An alert as a webhook brings it: firing or resolved."""

    @property
    def status(self) -> str: ...


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """An alert as its row in ``alerts`` keeps it (labels and annotations as they were when recorded)."""

    fingerprint: str
    starts_at: float
    alertname: str
    priority: str
    service: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """An alert's event recorded by reference, built from the alert's row when relayed (``build``).

    ``at``: the instant of an ``AlertResolved`` (None for the events of a firing)."""

    id: str
    type: str
    alert_id: int
    fingerprint: str
    at: float | None
    traceparent: str | None


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


def links(obs: Alert) -> dict[str, str]:
    found = {"generator": obs.generator_url} if obs.generator_url else {}
    for key, value in sorted(obs.annotations.items()):
        if not value:
            continue
        if key in LINK_ANNOTATIONS:
            found[LINK_ANNOTATIONS[key]] = value
        elif key.endswith("_url"):
            found[key.removesuffix("_url")] = value
    return found


def _value(obs: Alert) -> str | None:
    return obs.annotations.get("value") or obs.labels.get("value")


def _priority(obs: Alert) -> Priority:
    priority: Priority = obs.priority  # type: ignore[assignment]  # routing decided one of the four
    return priority


def _event(
    obs: Alert, event_type: str, at: datetime, data: Payload, traceparent: str | None, firing: str
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


def firing_types(obs: Alert) -> tuple[str, ...]:
    """The events of an alert first recorded firing: AlertCreated, and one more for its ``kind``."""
    return _FIRING_TYPES.get(obs.labels.get("kind") or "", _CREATED)


_CREATED = ("AlertCreated",)
_FIRING_TYPES = {"threshold": (*_CREATED, "ThresholdExceeded"), "anomaly": (*_CREATED, "PerformanceAnomaly")}


def _firing_payload(event_type: str, alert_id: int, obs: Alert, starts_at: datetime) -> Payload:
    alertname = obs.alertname or UNNAMED
    service = obs.service or UNNAMED
    if event_type == "ThresholdExceeded":
        return ThresholdExceeded(
            alert_id=str(alert_id),
            alertname=alertname,
            priority=_priority(obs),
            service=service,
            labels=obs.labels,
            value=_value(obs),
            links=links(obs),
        )
    if event_type == "PerformanceAnomaly":
        return PerformanceAnomaly(
            alert_id=str(alert_id),
            alertname=alertname,
            service=service,
            metric=obs.labels.get("metric") or alertname,
            labels=obs.labels,
            value=_value(obs),
            links=links(obs),
        )
    return AlertCreated(
        alert_id=str(alert_id),
        fingerprint=obs.fingerprint,
        alertname=alertname,
        priority=_priority(obs),
        service=service,
        labels=obs.labels,
        annotations=obs.annotations,
        starts_at=starts_at,
    )


def _fired_event(event_type: str, alert_id: int, obs: Alert, traceparent: str | None) -> CloudEvent:
    starts_at = datetime.fromtimestamp(obs.starts_at, UTC)
    data = _firing_payload(event_type, alert_id, obs, starts_at)
    return _event(obs, event_type, starts_at, data, traceparent, _firing(obs.fingerprint, starts_at))


def fired(alert_id: int, obs: Alert, traceparent: str | None) -> list[CloudEvent]:
    """The events of an alert first recorded firing."""
    return [_fired_event(event_type, alert_id, obs, traceparent) for event_type in firing_types(obs)]


def resolved(alert_id: int, obs: Alert, resolved_at: float, traceparent: str | None) -> CloudEvent:
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


# --- recorded by reference, built when relayed ---


def on_arrival(obs: Arrival) -> tuple[tuple[str, str], ...]:
    """(id, type) of the events of an alert as first recorded: ``fired``'s, or else ``resolved``'s."""
    firing = _firing(obs.fingerprint, datetime.fromtimestamp(obs.starts_at, UTC))
    types = firing_types(obs) if obs.status == "firing" else _RESOLVED
    return tuple((_uuid5(f"{firing}|{event_type}"), event_type) for event_type in types)


_RESOLVED = ("AlertResolved",)


def arrived(alert_id: int, obs: Arrival, resolved_at: float | None, traceparent: str | None) -> list[Deferred]:
    """``fired``, or ``resolved`` at ``resolved_at``, of an alert first recorded, by reference."""
    at = None if obs.status == "firing" else resolved_at
    return [Deferred(i, t, alert_id, obs.fingerprint, at, traceparent) for i, t in on_arrival(obs)]


def resolved_later(alert_id: int, obs: Alert, resolved_at: float, traceparent: str | None) -> Deferred:
    """``resolved``, by reference."""
    event = event_id(obs.fingerprint, obs.starts_at, "AlertResolved")
    return Deferred(event, "AlertResolved", alert_id, obs.fingerprint, resolved_at, traceparent)


class Unbuildable(ValueError):
    """A deferred event this code cannot build: a type it does not know (a row a newer receiver
    wrote), or an AlertResolved without its instant."""


def build(event: Deferred, alert: Alert) -> CloudEvent:
    """The event ``event`` refers to, from its alert as recorded: what ``fired``/``resolved`` gave then."""
    if event.type == "AlertResolved":
        if event.at is None:
            raise Unbuildable(f"AlertResolved {event.id} has no resolution instant")
        return resolved(event.alert_id, alert, event.at, event.traceparent)
    if event.type not in _BUILT_WHEN_FIRING:
        raise Unbuildable(f"event {event.id} of type {event.type!r}: no alert event of that type")
    return _fired_event(event.type, event.alert_id, alert, event.traceparent)


_BUILT_WHEN_FIRING = frozenset(t for types in _FIRING_TYPES.values() for t in types)
