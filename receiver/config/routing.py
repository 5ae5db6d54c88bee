"""Priority from labels, acknowledgement deadlines, and the YAML routing policy.

Policy file (``RECEIVER_ROUTING_FILE``), every key optional::

    fallback: email
    paging_channels: [pagerduty, sms]   # channels that interrupt a person: what the reports count as pages
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

from monitoring.config_files import read_yaml
from monitoring.settings import parse_duration


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


DIGEST = "email_digest"  # e-mail, batched: one message per digest interval
CHANNELS = ("pagerduty", "slack", "sms", "email", "webhook", DIGEST, "file", "console")
# Channels that interrupt a person (a phone rings or buzzes): a notification on one of them is a page.
# Chat, e-mail and the local channels are read when someone looks; the digest is batched by design.
PAGING_CHANNELS = ("pagerduty", "sms")


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
    paging_channels: tuple[str, ...] = PAGING_CHANNELS

    def channels_for(self, labels: Mapping[str, str], priority: Priority) -> tuple[str, ...]:
        for route in self.routes:
            if route.matches(labels, priority):
                return route.channels
        return self.priorities[priority].channels

    def policy(self, priority: Priority) -> PriorityPolicy:
        return self.priorities[priority]

    @classmethod
    def from_file(cls, path: Path) -> RoutingPolicy:
        """The policy in ``path``; every problem fails naming the file, the line and the reason."""
        document = read_yaml(path, "routing policy")
        try:
            return cls.from_mapping(document.value if document.value is not None else {})
        except PolicyInvalid as exc:
            raise document.error(exc.at, f"invalid routing policy: {exc.reason}") from None

    @classmethod
    def from_mapping(cls, document: object) -> RoutingPolicy:
        """Raises ``PolicyInvalid`` (a ``ValueError``) naming where the problem is."""
        root = _mapping(document, (), "expected a mapping with fallback, priorities, routes")
        unknown = set(root) - {"fallback", "paging_channels", "priorities", "routes"}
        if unknown:
            first = sorted(map(str, unknown))[0]
            raise PolicyInvalid(
                (first,),
                f"unknown keys {sorted(map(str, unknown))}; expected fallback, paging_channels, priorities, routes",
            )
        priorities = dict(DEFAULT_PRIORITIES)
        section = _mapping(root.get("priorities") or {}, ("priorities",), "expected a mapping of priority: policy")
        for name, raw_spec in section.items():
            at: tuple[str | int, ...] = ("priorities", str(name))
            try:
                priority = Priority(name)
            except ValueError:
                raise PolicyInvalid(at, f"unknown priority {name!r}; expected critical, high, medium or low") from None
            spec = _mapping(raw_spec, at, "expected a mapping with channels, escalation, ack_deadline, retry_budget")
            extra = set(spec) - {"channels", "escalation", "ack_deadline", "retry_budget"}
            if extra:
                raise PolicyInvalid((*at, sorted(map(str, extra))[0]), f"unknown keys {sorted(map(str, extra))}")
            base = priorities[priority]
            deadline = spec.get("ack_deadline", base.ack_deadline)
            try:
                ack_deadline = None if deadline is None else parse_duration(deadline)
            except ValueError as exc:
                raise PolicyInvalid((*at, "ack_deadline"), f"priorities.{name}.ack_deadline: {exc}") from None
            budget = spec.get("retry_budget", base.retry_budget)
            if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= 1000:
                raise PolicyInvalid((*at, "retry_budget"), f"priorities.{name}.retry_budget: expected 1..1000")
            priorities[priority] = PriorityPolicy(
                channels=_channels(spec.get("channels", base.channels), (*at, "channels")),
                escalation=_channels(spec.get("escalation", base.escalation), (*at, "escalation")),
                ack_deadline=ack_deadline,
                retry_budget=budget,
            )
        routes = []
        raw_routes = root.get("routes") or []
        if not isinstance(raw_routes, list):
            raise PolicyInvalid(("routes",), "routes: expected a list of {match, channels}")
        for index, raw_route in enumerate(raw_routes):
            at = ("routes", index)
            spec = _mapping(raw_route, at, f"routes[{index}]: expected a mapping with match and channels")
            match = spec.get("match") or {}
            if not isinstance(match, dict) or not match:
                raise PolicyInvalid((*at, "match"), f"routes[{index}].match: expected a mapping of label: value")
            routes.append(
                Route(
                    tuple(sorted((str(k), str(v)) for k, v in match.items())),
                    _channels(spec.get("channels"), (*at, "channels")),
                )
            )
        fallback = root.get("fallback", "email")
        if not isinstance(fallback, str) or fallback not in CHANNELS:
            raise PolicyInvalid(("fallback",), f"fallback: expected one of {', '.join(CHANNELS)}")
        paging = _channels(root.get("paging_channels", list(PAGING_CHANNELS)), ("paging_channels",))
        if DIGEST in paging:
            raise PolicyInvalid(
                ("paging_channels",), f"paging_channels: {DIGEST} batches notifications; it cannot page"
            )
        return cls(priorities=priorities, routes=tuple(routes), fallback=fallback, paging_channels=paging)


class PolicyInvalid(ValueError):
    """A routing policy of the wrong shape; ``at`` is the path of the offending value."""

    def __init__(self, at: tuple[str | int, ...], reason: str) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason


def _mapping(raw: object, at: tuple[str | int, ...], expected: str) -> dict[Any, Any]:
    if not isinstance(raw, dict):
        where = _where(at) or "the document"
        raise PolicyInvalid(at, f"{where}: {expected}, got {type(raw).__name__}")
    return raw


def _channels(raw: object, at: tuple[str | int, ...]) -> tuple[str, ...]:
    where = _where(at)
    if not isinstance(raw, list | tuple) or not all(isinstance(c, str) and c in CHANNELS for c in raw):
        raise PolicyInvalid(at, f"{where}: expected a list of channels from {', '.join(CHANNELS)}")
    return tuple(raw)


def _where(at: tuple[str | int, ...]) -> str:
    """("routes", 0, "channels") -> "routes[0].channels"."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in at).lstrip(".")
