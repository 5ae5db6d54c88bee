"""Receiver overload: webhooks at five times its benchmarked rate, refused with 503 beyond capacity."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.e2e.receiver.conftest import TOKEN, ReceiverProcess, Sinks, receiver_env
from tests.e2e.reliability.conftest import SCALES, Figures, Scale
from tests.e2e.reliability.webhook_flood import Answer, Flood, Memory, Probe, Webhooks, percentile, sample_memory

MULTIPLE = 5.0  # offered load over the capacity measured in the same run
BASELINE_CLIENTS = 8  # closed-loop senders measuring the capacity, as bench/receiver.py measures it
WARM_UP_SECONDS = 2.0  # connections opened, the pool filled, plans cached: not part of the baseline
BASELINE_SECONDS = 5.0
FLOOD_CONNECTIONS = 256  # open-loop senders: enough that sending never waits for answers
# gunicorn master + 2 workers (defaults: 12 threads, 4 intake slots each) + the delivery process, PSS summed:
# the workers share the pages of the modules the master loaded before forking them.
MEMORY_BOUND_MIB = 256.0
NORMAL_WITHIN = 60.0  # seconds after the load ends
RESENT = 200  # refused webhooks sent again afterwards, as Alertmanager retries them


@dataclass(frozen=True)
class Run:
    warm_up: list[Answer]
    baseline: list[Answer]
    overload: list[Answer]
    offered_seconds: float
    behind: float
    recovery: list[Answer]
    normal_after: float
    resent: list[Answer]
    healthz: list[tuple[int, float]]
    metrics: list[tuple[int, float]]
    memory: list[Memory]
    webhooks: Webhooks


class OverloadTarget:
    """Five times what the receiver stores: the rate starts at five times the measured capacity and
    follows five times the stored rate of the last 2 s when that is higher (a busy machine makes the
    closed-loop baseline read low), re-read twice a second."""

    def __init__(self, flood: Flood, initial: float) -> None:
        self.flood, self.current = flood, initial
        self._floor, self._read_at = initial, 0.0

    def rate(self) -> float:
        now = time.monotonic()
        if now - self._read_at >= 0.5:
            self._read_at = now
            self.current = max(self._floor, MULTIPLE * self.flood.stored_rate(2.0))
        return self.current


def ok(answers: list[Answer]) -> list[Answer]:
    return [a for a in answers if 200 <= a.status < 300]


async def drive(receiver: ReceiverProcess, scale: Scale) -> Run:
    assert receiver.proc is not None
    webhooks = Webhooks(run=uuid.uuid4().hex[:8])
    flood = Flood(receiver.port, TOKEN, webhooks, FLOOD_CONNECTIONS)
    stop_probes, stop_memory = asyncio.Event(), asyncio.Event()
    healthz, metrics, memory = Probe(receiver.port, "/healthz"), Probe(receiver.port, "/metrics"), list[Memory]()
    sampler = asyncio.create_task(sample_memory(receiver.proc.pid, stop_memory, memory))
    try:
        warm_up = await flood.closed_loop(BASELINE_CLIENTS, WARM_UP_SECONDS)
        baseline = await flood.closed_loop(BASELINE_CLIENTS, BASELINE_SECONDS)
        capacity = len(ok(baseline)) / BASELINE_SECONDS
        assert capacity > 0, Counter((a.status, a.error) for a in baseline)
        probes = [asyncio.create_task(p.run(stop_probes)) for p in (healthz, metrics)]
        started = time.monotonic()
        target = OverloadTarget(flood, MULTIPLE * capacity)
        overload = await flood.open_loop(target.rate, scale.overload_seconds)
        offered_seconds = time.monotonic() - started
        stop_probes.set()
        await asyncio.gather(*probes)
        # Normal again: three webhooks in a row stored within the baseline's p99 (at least 250 ms).
        normal_latency = max(0.25, percentile([a.seconds for a in ok(baseline)], 99))
        recovery: list[Answer] = []
        ended = time.monotonic()
        while time.monotonic() - ended < NORMAL_WITHIN * 1.5:
            recovery += await flood.resend([flood.take()])
            if all(200 <= a.status < 300 and a.seconds <= normal_latency for a in recovery[-3:]) and len(recovery) >= 3:
                break
            await asyncio.sleep(0.25)
        normal_after = time.monotonic() - ended
        refused = sorted({a.webhook for a in overload if a.status == 503})
        resent = await flood.resend(refused[:: max(1, len(refused) // RESENT)][:RESENT])
    finally:
        stop_probes.set()
        stop_memory.set()
        await sampler
        flood.close()
    return Run(
        warm_up, baseline, overload, offered_seconds, flood.behind, recovery, normal_after, resent,
        healthz.results, metrics.results, memory, webhooks,
    )  # fmt: skip


def stored_fingerprints(uri: str, run: str) -> set[str]:
    with psycopg.connect(uri, connect_timeout=5) as conn:
        rows = conn.execute("SELECT fingerprint FROM alerts WHERE fingerprint LIKE %s", (f"{run}x%",))
        return {row[0] for row in rows}


@pytest.mark.timeout(SCALES["full"].overload_seconds + 600)
def test_webhooks_at_five_times_capacity_get_a_2xx_or_a_503_and_the_receiver_is_normal_soon_after(
    postgres_uri: str, sinks: Sinks, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    """Alertmanager webhooks (10 alerts each) at five times what the receiver stores, never below five
    times its capacity measured in the same run (as bench/receiver.py measures it).

    Every webhook is answered: 2xx once stored, or 503 with Retry-After and nothing stored (Alertmanager
    retries a 5xx), never a connection error or timeout; the stored rate stays at least half the
    capacity; /healthz and /metrics answer throughout; the receiver's processes stay under the
    memory bound (their PSS summed); within 60 s after the load webhooks are stored at baseline latency again;
    refused webhooks sent again are all stored, so nothing is lost.
    """
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_DEADMANS_SWITCH="false", LOG_LEVEL="warning")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        run = asyncio.run(drive(receiver, scale))
        refused_counted = receiver.metric("receiver_webhooks_rejected_total")
    finally:
        receiver.stop()
    capacity = len(ok(run.baseline)) / BASELINE_SECONDS
    statuses = Counter(a.status for a in run.overload)
    accepted = {a.webhook for a in ok(run.warm_up + run.baseline + run.overload + run.recovery + run.resent)}
    refused = [a for a in run.overload if a.status == 503]
    stored = stored_fingerprints(postgres_uri, run.webhooks.run)
    offered_rate = len(run.overload) / run.offered_seconds
    goodput = statuses[200] / run.offered_seconds
    peak_pss = max(m.pss for m in run.memory)

    figures.record(
        capacity_webhooks_per_s=round(capacity),
        offered_webhooks_per_s=f"{offered_rate:.0f} for {run.offered_seconds:.0f} s",
        offered_over_stored=f"{offered_rate / goodput:.1f}x (over capacity {offered_rate / capacity:.1f}x)",
        answers=dict(sorted((str(k), v) for k, v in statuses.items())),
        transport_errors=dict(Counter(f"{a.error} after {a.seconds:.1f} s" for a in run.overload if a.status == 0)),
        stored_during_overload=f"{goodput:.0f}/s ({goodput / capacity:.2f}x capacity)",
        accepted_p99_ms=round(1000 * percentile([a.seconds for a in ok(run.overload)], 99)),
        refusal_p99_ms=round(1000 * percentile([a.seconds for a in refused], 99)),
        healthz_max_ms=round(1000 * max(s for _, s in run.healthz)),
        metrics_max_ms=round(1000 * max(s for _, s in run.metrics)),
        generator_behind_s=round(run.behind, 2),
        peak_pss_mib=f"{peak_pss:.0f} (bound {MEMORY_BOUND_MIB:.0f}, before {run.memory[0].pss:.0f})",
        peak_rss_summed_mib=round(max(m.rss for m in run.memory)),
        normal_after_s=round(run.normal_after, 1),
        refused_resent=f"{len(run.resent)}, all stored",
        lost=len(run.webhooks.fingerprints(accepted) - stored),
    )
    assert set(statuses) <= {200, 503}, statuses  # 0: a connection error or timeout
    assert refused, "the load never exceeded the receiver's capacity"
    assert all(a.retry_after for a in refused)
    assert refused_counted >= len(refused)
    assert offered_rate >= 0.9 * MULTIPLE * max(capacity, goodput), (offered_rate, capacity, goodput)
    assert goodput >= 0.5 * capacity, (goodput, capacity)  # no collapse: refusing costs little
    assert all(status == 200 for status, _ in run.healthz + run.metrics)
    assert peak_pss <= MEMORY_BOUND_MIB
    assert run.normal_after <= NORMAL_WITHIN
    assert all(a.status == 200 for a in run.resent)
    assert stored == run.webhooks.fingerprints(accepted)  # every 2xx stored, nothing refused stored
