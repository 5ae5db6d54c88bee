"""Webhook load: Alertmanager webhooks (payload version 4) POSTed to a receiver at a target rate.

Each webhook is a realistic alert group: ``group_size`` alerts sharing the group's
labels, a group key, common labels and annotations, fingerprints, and one group in ten
resolved. Bounded by count and duration; reports throughput and latency percentiles.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from simulator.loopback import require_loopback_url

ALERTS = (
    ("KafkaConsumerLagHigh", "high", "portfolio-service"),
    ("EventSyncDelayHigh", "critical", "portfolio-service"),
    ("TransactionFailureRateHigh", "critical", "transaction-service"),
    ("MissingFollowupEvents", "high", "portfolio-service"),
    ("HttpErrorRateHigh", "medium", "asset-service"),
    ("HttpLatencyHigh", "low", "asset-service"),
)
EPOCH_ZERO = "0001-01-01T00:00:00Z"


def alert_group(rng: random.Random, index: int, size: int, now: datetime) -> dict[str, Any]:
    """One Alertmanager v4 webhook body with ``size`` alerts of one alertname."""
    alertname, priority, service = rng.choice(ALERTS)
    resolved = index % 10 == 9
    group_labels = {"alertname": alertname, "service": service}
    common = {**group_labels, "priority": priority, "severity": priority, "job": "platform"}
    starts = now - timedelta(seconds=rng.randint(60, 3600))
    alerts = []
    for i in range(size):
        labels = {**common, "instance": f"{service}-{i}:8080", "topic": "transaction.events", "partition": str(i)}
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": labels,
                "annotations": {
                    "summary": f"{alertname} on {labels['instance']}",
                    "description": f"{alertname} for {service}, partition {i}.",
                    "runbook_url": f"https://runbooks.example/{alertname}",
                },
                "startsAt": starts.isoformat().replace("+00:00", "Z"),
                "endsAt": now.isoformat().replace("+00:00", "Z") if resolved else EPOCH_ZERO,
                "generatorURL": f"http://127.0.0.1:9090/graph?g0.expr=ALERTS%7Balertname%3D%22{alertname}%22%7D",
                "fingerprint": fingerprint,
            }
        )
    return {
        "version": "4",
        "groupKey": "{}:{" + ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items())) + "}",
        "truncatedAlerts": 0,
        "status": "resolved" if resolved else "firing",
        "receiver": f"platform-{priority}",
        "groupLabels": group_labels,
        "commonLabels": {**common, "topic": "transaction.events"},
        "commonAnnotations": {"runbook_url": f"https://runbooks.example/{alertname}"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": alerts,
    }


@dataclass
class WebhookLoadResult:
    sent: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1]

    def summary(self) -> str:
        return (
            f"sent {self.sent} webhooks in {self.seconds:.2f}s: {self.throughput:,.1f}/s, "
            f"{self.ok} ok, {self.failed} failed {self.statuses}; latency "
            f"p50 {self.percentile(50) * 1000:.1f} ms, p95 {self.percentile(95) * 1000:.1f} ms, "
            f"p99 {self.percentile(99) * 1000:.1f} ms"
        )


def run_webhook_load(
    url: str,
    *,
    rate: float,
    count: int,
    duration: float,
    group_size: int = 10,
    concurrency: int = 4,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookLoadResult:
    require_loopback_url(url)
    if count < 1 or duration <= 0 or rate <= 0 or group_size < 1 or concurrency < 1:
        raise ValueError("count, duration, rate, group size and concurrency must be positive")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not crypto
    result = WebhookLoadResult()
    lock = threading.Lock()
    local = threading.local()

    def post(body: bytes) -> None:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        started = time.perf_counter()
        try:
            response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
            status = str(response.status_code)
            ok = response.ok
        except requests.RequestException as exc:
            status, ok = type(exc).__name__, False
        elapsed = time.perf_counter() - started
        with lock:
            result.latencies.append(elapsed)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if ok:
                result.ok += 1
            else:
                result.failed += 1

    start = clock()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook-load") as pool:
        for index in range(count):
            now = clock()
            due = start + index / rate
            if due > now:
                sleep(due - now)
            if clock() - start >= duration:
                break
            body = json.dumps(alert_group(rng, index, group_size, datetime.now(UTC))).encode()
            pool.submit(post, body)
            result.sent += 1
    result.seconds = clock() - start
    return result
