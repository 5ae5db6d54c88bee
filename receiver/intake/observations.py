"""Turn a parsed webhook into observations: priority, routing and retry budget decided per alert."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection

import msgspec

from receiver.config.routing import RoutingPolicy, priority_from_labels
from receiver.intake.correlation import IncidentRules
from receiver.intake.payload import WebhookAlert, WebhookPayload, ends_at_or_none
from receiver.store.history import Observation

_SORTED = msgspec.json.Encoder(order="sorted")


def content_hash(alert: WebhookAlert) -> str:
    """What the alert says (labels and annotations), hashed: a change re-notifies. The hash is of
    ``json.dumps(..., sort_keys=True, separators=(",", ":"))``, as stored since the first release;
    msgspec writes the same bytes, faster, for printable ASCII (it leaves other characters unescaped)."""
    document = _SORTED.encode([alert.labels, alert.annotations])
    if not document.isascii() or b"\x7f" in document:
        document = json.dumps([alert.labels, alert.annotations], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(document).hexdigest()[:32]


def next_digest(now: float, interval: float) -> float:
    """The next digest time: the end of the current ``interval``-long window (aligned to the epoch)."""
    return (math.floor(now / interval) + 1) * interval


def observe(
    payload: WebhookPayload,
    policy: RoutingPolicy,
    configured: Collection[str],
    now: float,
    digest_interval: float,
    incidents: IncidentRules | None = None,
) -> list[Observation]:
    """One observation per alert. Channels that are not configured are dropped; if none is left,
    the policy's fallback channel is used (when configured). With ``incidents``, each also gets the
    topology part its labels match and its connected component (the store's lock)."""
    digest_at = next_digest(now, digest_interval)
    observations = []
    for alert in payload.alerts:
        priority, defaulted = priority_from_labels(alert.labels)
        rules = policy.policy(priority)
        channels = tuple(c for c in policy.channels_for(alert.labels, priority) if c in configured)
        if not channels and policy.fallback in configured:
            channels = (policy.fallback,)
        ends_at = ends_at_or_none(alert)
        part, component = (None, None) if incidents is None else incidents.place(alert.labels, alert.fingerprint)
        observations.append(
            Observation(
                fingerprint=alert.fingerprint,
                starts_at=alert.starts_at.timestamp(),
                alertname=alert.labels.get("alertname", ""),
                status=alert.status,
                priority=priority.value,
                priority_defaulted=defaulted,
                service=alert.labels.get("service", ""),
                labels=alert.labels,
                annotations=alert.annotations,
                generator_url=alert.generator_url,
                ends_at=None if ends_at is None else ends_at.timestamp(),
                content_hash=content_hash(alert),
                channels=channels,
                retry_budget=rules.retry_budget,
                ack_deadline=rules.ack_deadline,
                digest_at=digest_at,
                part=part,
                component=component,
            )
        )
    return observations
