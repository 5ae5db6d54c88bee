"""The simulation loop: paces steps, follows the timeline and the control switch, sends records.

``Simulation.run()`` is bounded by the scenario's ``steps`` and ``duration`` (and a stop
event). After the last step it waits for queued follow-ups so the ground truth holds
exactly what reached the producer. Clock and sleep are injected, so tests drive time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog

from simulator.generator import EventGenerator, OutRecord, topics_for
from simulator.profile import Faults
from simulator.report import GroundTruth
from simulator.scenario import Phase, Scenario

log = structlog.get_logger(__name__)

MAX_STEPS_PER_TICK = 1000
MAX_SLEEP = 0.1


class RecordSink(Protocol):
    def send(self, record: OutRecord) -> None: ...

    def flush(self, timeout: float) -> int:
        """Wait for delivery; returns how many records are still undelivered."""
        ...


class FaultSwitch:
    """Faults set from outside while the simulation runs (the control endpoint); they win over the timeline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._override: Faults | None = None

    def set(self, faults: Faults | None) -> None:
        with self._lock:
            self._override = faults

    def override(self) -> Faults | None:
        with self._lock:
            return self._override

    def effective(self, scheduled: Faults) -> Faults:
        return self.override() or scheduled


@dataclass(frozen=True)
class PhaseChange:
    elapsed: float  # seconds since the start, by the injected clock
    phase: str


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        sink: RecordSink,
        *,
        topics: Mapping[str, str] | None = None,
        truth: GroundTruth | None = None,
        switch: FaultSwitch | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scenario = scenario
        self.truth = truth or GroundTruth()
        self.switch = switch or FaultSwitch()
        self.generator = EventGenerator(scenario.profile, scenario.seed, self.truth, topics or topics_for())
        self.phase_changes: list[PhaseChange] = []
        self.steps = 0
        self._sink = sink
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._phase: Phase = scenario.phases[0]
        self._faults: Faults = scenario.phases[0].faults

    def current(self) -> tuple[Phase, Faults]:
        """The phase in force and the effective faults (thread-safe, for the control endpoint and consumer)."""
        with self._lock:
            return self._phase, self._faults

    def current_faults(self) -> Faults:
        return self.current()[1]

    def run(self, stop: threading.Event | None = None) -> GroundTruth:
        stop = stop or threading.Event()
        scenario, timeline = self.scenario, self.scenario.timeline
        max_steps = scenario.steps if scenario.steps is not None else math.inf
        duration = scenario.duration if scenario.duration is not None else math.inf
        start = self._clock()
        next_step = start
        while not stop.is_set():
            now = self._clock()
            elapsed = now - start
            if elapsed >= duration or self.steps >= max_steps:
                break
            phase = timeline.at(elapsed)
            faults = self.switch.effective(phase.faults)
            self._enter(phase, faults, elapsed)
            self._send(self.generator.due(now))
            interval = 1.0 / (phase.rate or scenario.profile.rate)
            ticks = 0
            while next_step <= now and self.steps < max_steps and ticks < MAX_STEPS_PER_TICK:
                self._send(self.generator.step(now, faults))
                self.steps += 1
                ticks += 1
                next_step += interval
            next_step = max(next_step, now - 1.0)  # after a long pause, don't burst more than a second
            wake = min(next_step, self.generator.next_due() or math.inf, start + duration)
            self._sleep(max(0.0, min(wake - self._clock(), MAX_SLEEP)))
        self._drain(stop)
        remaining = self._sink.flush(30.0)
        if remaining:
            log.error("simulation.undelivered", records=remaining)
        return self.truth

    def _drain(self, stop: threading.Event) -> None:
        while (due := self.generator.next_due()) is not None and not stop.is_set():
            self._sleep(max(0.0, min(due - self._clock(), MAX_SLEEP)))
            self._send(self.generator.due(self._clock()))
        for record in self.generator.abandon():
            self.truth.inject("abandoned_followup", record)

    def _enter(self, phase: Phase, faults: Faults, elapsed: float) -> None:
        with self._lock:
            changed = not self.phase_changes or phase is not self._phase
            self._phase, self._faults = phase, faults
        if changed:
            self.phase_changes.append(PhaseChange(elapsed, phase.name))
            log.info("simulation.phase", phase=phase.name, elapsed=round(elapsed, 3))

    def _send(self, records: list[OutRecord]) -> None:
        for record in records:
            self._sink.send(record)
