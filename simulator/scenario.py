"""Scenario files: a profile, a seed, bounds and a timeline of phases (baseline -> fault -> recovery).

A scenario is YAML; every duration is a number of seconds or a Prometheus-style string
("500ms", "10s", "2m")::

    name: missing-followups
    seed: 7
    duration: 30s
    profile: {rate: 100, followup_delay: 200ms}
    phases:
      - {at: 0s, name: baseline}
      - {at: 10s, name: fault, faults: {drop_followup: 0.5}}
      - {at: 20s, name: recovery}

``Timeline.at(elapsed)`` is the phase in force ``elapsed`` seconds after the start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec import Meta

from monitoring.settings import parse_duration
from simulator.profile import NO_FAULTS, Faults, Profile

DURATION_KEYS = frozenset({"at", "duration", "followup_delay", "downstream_delay"})
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message names the file and the field."""


class Phase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    at: Annotated[float, Meta(ge=0)]
    name: Annotated[str, Meta(pattern=NAME_PATTERN)]
    faults: Faults = NO_FAULTS
    rate: Annotated[float, Meta(gt=0)] | None = None  # overrides the profile's rate in this phase
    # The fake services (simulator/fake_services.py) follow these too.
    http_error_ratio: Annotated[float, Meta(ge=0, le=1)] | None = None
    http_latency_factor: Annotated[float, Meta(gt=0)] | None = None
    health: Literal["healthy", "unhealthy", "down"] | None = None
    # Which fake services the http_* and health settings apply to; empty means all three.
    services: tuple[Literal["asset-service", "portfolio-service", "transaction-service"], ...] = ()


BASELINE = Phase(at=0, name="baseline")


class Scenario(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(pattern=NAME_PATTERN)] = "default"
    seed: int = 0
    duration: Annotated[float, Meta(gt=0)] | None = None
    steps: Annotated[int, Meta(ge=1)] | None = None
    profile: Profile = Profile()
    phases: tuple[Phase, ...] = (BASELINE,)

    def __post_init__(self) -> None:
        starts = [p.at for p in self.phases]
        if not starts or starts[0] != 0:
            raise ValueError("the first phase must start at 0")
        if starts != sorted(set(starts)):
            raise ValueError("phases must start at strictly increasing times")

    @property
    def timeline(self) -> Timeline:
        return Timeline(self.phases)


class Timeline:
    def __init__(self, phases: tuple[Phase, ...] = (BASELINE,)) -> None:
        self.phases = phases

    def at(self, elapsed: float) -> Phase:
        current = self.phases[0]
        for phase in self.phases:
            if phase.at > elapsed:
                break
            current = phase
        return current


def load_scenario(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse_scenario(raw, str(path))


def parse_scenario(raw: object, origin: str = "scenario") -> Scenario:
    try:
        return msgspec.convert(_durations(raw), Scenario)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ScenarioError(f"{origin}: {exc}") from exc


def _durations(node: Any, key: str = "") -> Any:
    """Durations given as strings become seconds; everything else is left to validation."""
    if isinstance(node, dict):
        return {k: _durations(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_durations(v) for v in node]
    if key in DURATION_KEYS and isinstance(node, str):
        if node.strip() in ("0", "0s", "0ms"):
            return 0.0
        try:
            return parse_duration(node)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from exc
    return node
