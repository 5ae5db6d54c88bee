"""Priority from labels, acknowledgement deadlines, and the YAML routing policy.

Policy file (``RECEIVER_ROUTING_FILE``), every key optional::

    fallback: email
    priorities:
      critical: {channels: [pagerduty, slack, sms], escalation: [sms, slack], ack_deadline: 5m, retry_budget: 10}
    routes:                      # first match wins, checked before the priority defaults
      - match: {priority: high, service: exporter}
        channels: [slack]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from monitoring.settings import ConfigError, parse_duration


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


DIGEST = "email_digest"  # e-mail, batched: one message per digest interval
CHANNELS = ("pagerduty", "slack", "sms", "email", "webhook", DIGEST, "file", "console")


def priority_from_labels(labels: Mapping[str, str]) -> tuple[Priority, bool]:
    """The alert's priority and whether it was defaulted (missing or unknown label -> high, flagged)."""
    raw = labels.get("priority", "").strip().lower()
    try:
        return Priority(raw), False
    except ValueError:
        return Priority.HIGH, True


@dataclass(frozen=True)
class PriorityPolicy:
    channels: tuple[str, ...]
    escalation: tuple[str, ...]
    ack_deadline: float | None  # seconds; None: planned work, never escalated
    retry_budget: int  # delivery attempts per job before dead-lettering


DEFAULT_PRIORITIES: dict[Priority, PriorityPolicy] = {
    Priority.CRITICAL: PriorityPolicy(("pagerduty", "slack", "sms"), ("sms", "slack"), 300.0, 10),
    Priority.HIGH: PriorityPolicy(("pagerduty", "slack"), ("sms", "slack"), 3600.0, 8),
    Priority.MEDIUM: PriorityPolicy(("slack", "email"), ("pagerduty", "slack"), 86400.0, 5),
    Priority.LOW: PriorityPolicy((DIGEST,), (), None, 3),
}


@dataclass(frozen=True)
class Route:
    match: tuple[tuple[str, str], ...]
    channels: tuple[str, ...]

    def matches(self, labels: Mapping[str, str], priority: Priority) -> bool:
        effective = {**labels, "priority": priority.value}
        return all(effective.get(name) == value for name, value in self.match)


@dataclass(frozen=True)
class RoutingPolicy:
    priorities: dict[Priority, PriorityPolicy] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    routes: tuple[Route, ...] = ()
    fallback: str = "email"

    def channels_for(self, labels: Mapping[str, str], priority: Priority) -> tuple[str, ...]:
        for route in self.routes:
            if route.matches(labels, priority):
                return route.channels
        return self.priorities[priority].channels

    def policy(self, priority: Priority) -> PriorityPolicy:
        return self.priorities[priority]

    @classmethod
    def from_file(cls, path: Path) -> RoutingPolicy:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read routing policy: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        try:
            return cls.from_mapping(document or {})
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any]) -> RoutingPolicy:
        unknown = set(document) - {"fallback", "priorities", "routes"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; expected fallback, priorities, routes")
        priorities = dict(DEFAULT_PRIORITIES)
        for name, spec in (document.get("priorities") or {}).items():
            priority = Priority(name)
            base = priorities[priority]
            deadline = spec.get("ack_deadline", base.ack_deadline)
            priorities[priority] = PriorityPolicy(
                channels=_channels(spec.get("channels", base.channels), f"priorities.{name}.channels"),
                escalation=_channels(spec.get("escalation", base.escalation), f"priorities.{name}.escalation"),
                ack_deadline=None if deadline is None else parse_duration(deadline),
                retry_budget=int(spec.get("retry_budget", base.retry_budget)),
            )
        routes = []
        for index, spec in enumerate(document.get("routes") or []):
            match = spec.get("match") or {}
            if not isinstance(match, dict) or not match:
                raise ValueError(f"routes[{index}].match: expected a mapping of label: value")
            routes.append(
                Route(
                    tuple(sorted((str(k), str(v)) for k, v in match.items())),
                    _channels(spec.get("channels"), f"routes[{index}].channels"),
                )
            )
        fallback = str(document.get("fallback", "email"))
        _channels([fallback], "fallback")
        return cls(priorities=priorities, routes=tuple(routes), fallback=fallback)


def _channels(raw: object, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple) or not all(isinstance(c, str) and c in CHANNELS for c in raw):
        raise ValueError(f"{where}: expected a list of channels from {', '.join(CHANNELS)}")
    return tuple(raw)
