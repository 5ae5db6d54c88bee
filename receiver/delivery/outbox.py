"""Delivery from the durable outbox: claim due jobs, send, then record success, retry or dead letter.

Each attempt is a "deliver <channel>" span, a child of the context the job was queued in (its
stored ``traceparent``): the webhook's trace goes on through every channel delivery.

Also sweeps for unacknowledged alerts past their deadline and escalates them. ``start()`` runs a
``DeliveryWorker`` on a thread of its own, ``stop()`` ends it and waits; the delivery process runs
several side by side (``receiver/delivery/process.py``).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import structlog
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, StatusCode, Tracer

from monitoring.tracing import context_from_traceparent, parse_traceparent
from receiver.config.routing import DIGEST, Priority, RoutingPolicy
from receiver.delivery.deadmans_switch import DeadMansSwitch
from receiver.delivery.metrics import DeliveryMetrics
from receiver.delivery.notification import Channel, DeliveryFailed, DigestChannel, Notification
from receiver.store.database import DatabaseUnavailable
from receiver.store.history import AlertHistory, Job, NewJob
from receiver.store.incidents import DueIncidentEscalation

log = structlog.get_logger("receiver.outbox")
DIGEST_LIMIT = 200  # notifications in one digest message
# The outcome of one delivery attempt (the delivery span's notification.outcome).
DELIVERED, RETRY, DEAD_LETTER = "delivered", "retry", "dead_letter"


class Backoff:
    """Exponential backoff with full jitter in [delay/2, delay], capped; Retry-After wins when longer."""

    def __init__(self, base: float, cap: float, rand: Callable[[], float] = random.random) -> None:
        self._base = base
        self._cap = cap
        self._rand = rand

    def delay(self, attempt: int, retry_after: float | None) -> float:
        exponential = min(self._cap, self._base * 2.0 ** max(0, attempt - 1))
        jittered = exponential * (0.5 + self._rand() / 2)
        return max(jittered, retry_after or 0.0)


class IncidentEscalations(Protocol):
    """Incidents nobody acknowledged in time (the store's; docs/alerting.md, "Incidents")."""

    def due_incident_escalations(self, now: float, limit: int) -> list[DueIncidentEscalation]: ...

    def escalate_incident(self, due: DueIncidentEscalation, jobs: Sequence[NewJob], next_at: float, now: float) -> bool:
        """Record one escalation unless another worker already did (returns False then)."""
        ...


class DeliveryWorker:
    def __init__(
        self,
        history: AlertHistory,
        channels: Mapping[str, Channel],
        policy: RoutingPolicy,
        metrics: DeliveryMetrics,
        clock: Callable[[], float],
        backoff: Backoff,
        *,
        poll_interval: float = 1.0,
        lease: float = 120.0,
        batch: int = 20,
        deadmans_switch: DeadMansSwitch | None = None,
        tracer: Tracer | None = None,
        incidents: IncidentEscalations | None = None,
        name: str = "receiver-delivery",
    ) -> None:
        self._history = history
        self._incidents = incidents
        self._name = name
        self._tracer = tracer or trace.NoOpTracer()
        self._channels = channels
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._backoff = backoff
        self._poll = poll_interval
        self._lease = lease
        self._batch = batch
        self._deadmans_switch = deadmans_switch
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass, used by the thread and directly by tests ---

    def use_policy(self, policy: RoutingPolicy) -> None:
        """A reloaded routing policy (``POST /api/v1/config/reload``) applies from the next cycle on."""
        self._policy = policy

    def run_once(self) -> int:
        """Check the dead man's switch, escalate what is due, then deliver one batch of due jobs;
        return the number of jobs handled."""
        if self._deadmans_switch is not None:
            self._deadmans_switch.check()
        self.escalate_due()
        jobs = self._history.claim(self._clock(), self._lease, self._batch)
        for job in jobs:
            self._deliver(job)
        digest = self._history.claim(self._clock(), self._lease, DIGEST_LIMIT, digest=True)
        if digest:
            self._deliver_digest(digest)
        return len(jobs) + len(digest)

    def drain(self, max_passes: int = 100) -> int:
        """Run passes until nothing is due (bounded); return the jobs handled."""
        handled = 0
        for _ in range(max_passes):
            done = self.run_once()
            handled += done
            if done == 0:
                break
        return handled

    def _deliver(self, job: Job) -> None:
        """One delivery attempt, in a "deliver <channel>" span whose parent is the context the job was queued in."""
        with self._tracer.start_as_current_span(
            f"deliver {job.channel}",
            context=context_from_traceparent(job.traceparent),
            kind=SpanKind.CLIENT,
            attributes={
                "notification.channel": job.channel,
                "notification.action": job.action,
                "notification.priority": job.alert.priority,
                "notification.attempt": job.attempts,
                "notification.fallback": job.fallback,
                "alert.id": job.alert.id,
                "alert.name": job.alert.alertname,
            },
        ) as span:
            outcome = self._attempt(job)
            span.set_attribute("notification.outcome", outcome)
            if outcome != DELIVERED:
                span.set_status(StatusCode.ERROR, outcome)

    def _attempt(self, job: Job) -> str:
        channel = self._channels.get(job.channel)
        if channel is None:
            return self._fail(job, DeliveryFailed(f"{job.channel}: channel not configured", retryable=False))
        try:
            channel.send(self._notification(job))
        except DeliveryFailed as failure:
            self._metrics.notifications_failed.labels(job.channel).inc()
            return self._fail(job, failure)
        except Exception as exc:  # a job's edge: a channel bug must not stall the outbox
            logging.getLogger(__name__).exception("channel %s failed unexpectedly", job.channel)
            self._metrics.worker_errors.inc()
            self._metrics.notifications_failed.labels(job.channel).inc()
            return self._fail(job, DeliveryFailed(f"{job.channel}: unexpected {type(exc).__name__}", retryable=True))
        self._history.delivered(job, self._clock())
        self._metrics.notifications_sent.labels(job.channel).inc()
        log.info(
            "notification sent", alert_id=job.alert.id, channel=job.channel, action=job.action, attempt=job.attempts
        )
        return DELIVERED

    def _deliver_digest(self, jobs: list[Job]) -> None:
        channel = self._channels.get(DIGEST)
        if not isinstance(channel, DigestChannel):
            for job in jobs:
                self._deliver(job)
            return
        # One message for many alerts, so many traces: a root span linked to each job's context.
        links = [Link(c) for c in (parse_traceparent(j.traceparent) for j in jobs) if c is not None]
        with self._tracer.start_as_current_span(
            f"deliver {DIGEST}",
            kind=SpanKind.CLIENT,
            links=links,
            attributes={"notification.channel": DIGEST, "notification.jobs": len(jobs)},
        ) as span:
            try:
                channel.send_digest([self._notification(j) for j in jobs])
            except DeliveryFailed as failure:
                span.set_status(StatusCode.ERROR, failure.reason)
                for job in jobs:
                    self._metrics.notifications_failed.labels(DIGEST).inc()
                    span.set_attribute("notification.outcome", self._fail(job, failure))
                return
            span.set_attribute("notification.outcome", DELIVERED)
        now = self._clock()
        for job in jobs:
            self._history.delivered(job, now)
        self._metrics.notifications_sent.labels(DIGEST).inc(len(jobs))
        log.info("digest sent", notifications=len(jobs))

    def _notification(self, job: Job) -> Notification:
        """What the channel is told; an escalation names the deadline that was missed."""
        deadline = None
        if job.action == "escalate":
            try:
                deadline = self._policy.policy(Priority(job.alert.priority)).ack_deadline
            except ValueError:  # a priority stored by an older policy: the message says "the deadline"
                deadline = None
        return Notification(
            job.alert, job.action, job.fallback, job.id, job.thread, ack_deadline=deadline, incident=job.incident
        )

    def _fail(self, job: Job, failure: DeliveryFailed) -> str:
        """Schedule a retry or dead-letter the job; return which (the outcome of the attempt)."""
        now = self._clock()
        if failure.retryable and job.attempts < job.max_attempts:
            at = now + self._backoff.delay(job.attempts, failure.retry_after)
            self._history.retry_later(job, at, failure.reason, now)
            log.warning(
                "delivery failed, will retry",
                alert_id=job.alert.id,
                channel=job.channel,
                reason=failure.reason,
                retry_in=round(at - now, 3),
            )
            return RETRY
        fallback = None
        if not job.fallback and self._policy.fallback != job.channel and self._policy.fallback in self._channels:
            budget = self._policy.policy(Priority(job.alert.priority)).retry_budget
            incident = None if job.incident is None else job.incident.id
            fallback = NewJob(self._policy.fallback, job.action, budget, fallback=True, incident=incident)
        self._history.dead_letter(job, failure.reason, now, fallback)
        log.error(
            "notification dead-lettered",
            alert_id=job.alert.id,
            channel=job.channel,
            reason=failure.reason,
            fallback=fallback is not None,
        )
        return DEAD_LETTER

    def escalate_due(self) -> int:
        now = self._clock()
        escalated = 0
        for due in self._history.due_escalations(now, self._batch):
            policy = self._policy.policy(Priority(due.alert.priority))
            if policy.ack_deadline is None:
                continue
            jobs = [NewJob(c, "escalate", policy.retry_budget) for c in policy.escalation if c in self._channels]
            # Its own trace: the escalation's jobs keep this span's context, their deliveries continue it.
            with self._tracer.start_as_current_span(
                "escalate",
                attributes={
                    "alert.id": due.alert.id,
                    "alert.name": due.alert.alertname,
                    "notification.priority": due.alert.priority,
                    "escalation": due.escalations + 1,
                },
            ) as span:
                done = self._history.escalate(due, jobs, now + policy.ack_deadline, now)
                span.set_attribute("escalated", done)
            if done:
                escalated += 1
                self._metrics.escalations.inc()
                log.warning("alert escalated", alert_id=due.alert.id, escalation=due.escalations + 1)
        return escalated + self._escalate_incidents(now)

    def _escalate_incidents(self, now: float) -> int:
        """An incident unacknowledged past its deadline: its priority's escalation channels, once per
        deadline, for the incident (the same PagerDuty incident), until acknowledged or resolved."""
        if self._incidents is None:
            return 0
        escalated = 0
        for due in self._incidents.due_incident_escalations(now, self._batch):
            policy = self._policy.policy(Priority(due.incident.priority))
            if policy.ack_deadline is None:
                continue
            jobs = [NewJob(c, "escalate", policy.retry_budget) for c in policy.escalation if c in self._channels]
            with self._tracer.start_as_current_span(
                "escalate incident",
                attributes={
                    "incident.id": due.incident.id,
                    "notification.priority": due.incident.priority,
                    "escalation": due.escalations + 1,
                },
            ) as span:
                done = self._incidents.escalate_incident(due, jobs, now + policy.ack_deadline, now)
                span.set_attribute("escalated", done)
            if done:
                escalated += 1
                self._metrics.escalations.inc()
                log.warning("incident escalated", incident_id=due.incident.id, escalation=due.escalations + 1)
        return escalated

    # --- the thread ---

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def request_stop(self) -> None:
        """Ask the thread to stop after the send in flight, without waiting (``stop`` waits)."""
        self._stopping.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.run_once() > 0
            except DatabaseUnavailable as exc:
                log.warning("delivery paused: database unavailable", reason=str(exc))
                busy = False
            except Exception:  # the loop's edge: log, count, keep delivering
                logging.getLogger(__name__).exception("delivery loop failed")
                self._metrics.worker_errors.inc()
                busy = False
            if not busy:
                self._stopping.wait(self._poll)
