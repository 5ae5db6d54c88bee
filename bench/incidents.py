"""Incidents: pages per injected fault with incidents and with today's behaviour, in the same run, and
the receiver's intake p99 with the topology on and off.

**Pages per fault.** The whole pipeline as real processes (tests/e2e/pipeline/harness.py, fast
config ÷60) on a Kafka broker of its own: simulator, exporter, fake platform services, Prometheus,
Alertmanager, and two receivers that Alertmanager notifies alike: one with the shipped topology
(``topology/platform.yaml``; window and cool-down ÷60), one without (every alert its own page, as
before incidents). Both also deliver to a recording webhook sink; a *page* is a trigger there, one
per distinct PagerDuty ``dedup_key`` (an incident's key, or an alert's fingerprint and startsAt), so
an incident's escalation to a higher priority is not a second page. The faults, one after the
other, each given time to resolve: the fake services' outages (one service; the ``make run`` demo's
transaction-service; two unrelated services at once; a flapping service), the simulator's fault
scenarios switched on its control endpoint (failure burst, stalled consumer group, missing
follow-ups, sync delay, malformed records), and the broker stopped for 20 s. A fault's pages are
those in its interval for the alerts it causes (by name; for an outage, any alert of the downed
service); other pages in the interval (the fake services' request-rate anomalies and error-budget
burns, whose ÷60 windows are minutes of an hour) are counted apart as background. Goal: one page
per fault (two for the two unrelated outages), none without a page. And the ``make run`` demo
itself: its pages against its alerts.

**Intake p99.** Three receivers (gunicorn, two workers, delivery off) on three PostgreSQL databases:
no topology, the shipped one, and 5,000 generated parts. Webhooks of 10 alerts on the topology's
parts (new alerts, and the resolve of those sent 5 webhooks before, so incidents open, join and
resolve) at 50 webhooks/s, the three interleaved in rounds; p99 of each over all rounds.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from bench.receiver import Client, fresh_database, p, receiver
from bench.report import RESULTS, Result
from bench.rounds import Figures, interleave
from receiver.config.routing import DEFAULT_PRIORITIES
from receiver.config.settings import ReceiverConfig
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory
from tests.credentials import get_json
from tests.e2e.pipeline.harness import REPO, Pipeline, wait_for
from tests.private_services import PrivateKafka
from tests.services import free_port

SPEED = 60.0  # the fast config: every duration of the shipped files ÷60
TOPOLOGY = REPO / "topology" / "platform.yaml"
DOWN = 12.0  # seconds a fake service stays down (fast time): detection, the group's flush and the hold fit
GAP = 35.0  # seconds between a simulator fault's end and the next: its alerts resolve, the cool-down passes


@dataclass(frozen=True)
class Fault:
    """``causes``: the alerts the fault causes, by name (``services``: on those services only, when
    given); other alerts in its interval are background (the fake services' own noise)."""

    name: str
    expected: int  # pages with incidents: 1, or 2 for two unrelated faults at once
    causes: tuple[str, ...]
    services: tuple[str, ...] = ()
    phases: tuple[tuple[float, float, tuple[str, ...]], ...] = ()  # fake services down: (from, to, services)
    control: dict[str, object] = field(default_factory=dict)  # simulator faults, switched on its endpoint
    hold: float = 15.0  # seconds a simulator fault (or the broker's outage) lasts
    kafka: bool = False  # the broker itself goes down for ``hold`` seconds


PLATFORM = ("asset-service", "portfolio-service", "transaction-service")


ANY = ("*",)  # every alert on the fault's services
KAFKA_ALERTS = (
    "ExporterKafkaDown", "ConsumerGroupStalled", "ConsumerGroupLagging", "EventLagHigh", "SyncDelayHigh",
    "ConsistencyViolation", "DomainEventsDelayed", "MetricCollectionStalled",
)  # fmt: skip
OUTAGES = (  # fake time (seconds since the fake services started), 55 s apart
    Fault("service outage (asset-service down)", 1, ANY, ("asset-service",), ((25, 25 + DOWN, ("asset-service",)),)),
    Fault(
        "make run's demo outage (transaction-service down)",
        1,
        ANY,
        ("transaction-service",),
        ((80, 80 + DOWN, ("transaction-service",)),),
    ),
    Fault(
        "two unrelated outages at once (asset- and portfolio-service)",
        2,
        ANY,
        ("asset-service", "portfolio-service"),
        ((135, 135 + DOWN, ("asset-service", "portfolio-service")),),
    ),
    Fault(
        "flapping service (transaction-service down 6s, up 4s, down 6s)",
        1,
        ANY,
        ("transaction-service",),
        ((190, 196, ("transaction-service",)), (200, 206, ("transaction-service",))),
    ),
)
SCENARIOS = (  # the simulator's fault scenarios (simulator/scenarios/*.yaml), one at a time
    Fault("failure burst (failure-burst.yaml)", 1, ("TransactionSuccessRateDrop",), control={"failure_burst": 0.8}),
    Fault(
        "stalled consumer group (consumer-lag.yaml)",
        1,
        ("ConsumerGroupStalled", "ConsumerGroupLagging", "SyncDelayHigh", "EventLagHigh"),
        control={"consumer": "stall"},
        hold=20.0,
    ),
    Fault("missing follow-ups (missing-followups.yaml)", 1, ("ConsistencyViolation",), control={"drop_followup": 0.5}),
    Fault(
        "sync delay (sync-delay.yaml)",
        1,
        ("SyncDelayHigh", "ConsistencyViolation"),
        control={"downstream_delay": 5.0},
        hold=20.0,
    ),
    Fault(
        "malformed records (malformed.yaml)", 1, ("EventFailureSpike", "DeadLetterGrowth"), control={"malformed": 0.3}
    ),
    # the issue's example: the exporter's, the consumer groups', lag and consistency alerts at once
    Fault("Kafka outage (the broker stopped)", 1, KAFKA_ALERTS, hold=20.0, kafka=True),
)
CONTROL_FROM = 250.0  # fake time: the outages above are over and resolved


def fake_services_timeline() -> str:
    phases = ["  - {at: 0s, name: steady, http_error_ratio: 0.0005}"]
    for fault in OUTAGES:
        for start, end, services in fault.phases:
            down = f"{{at: {start}s, name: down-{start:g}, health: down, services: [{', '.join(services)}]}}"
            phases += [f"  - {down}", f"  - {{at: {end}s, name: up-{end:g}, http_error_ratio: 0.0005}}"]
    return "name: incidents\nseed: 9\nduration: 1800s\nprofile: {rate: 8}\nphases:\n" + "\n".join(phases) + "\n"


def routing(path: Path) -> Path:
    """The shipped priorities plus the generic webhook on each: where pages are counted."""
    document = {
        "priorities": {p.value: {"channels": [*policy.channels, "webhook"]} for p, policy in DEFAULT_PRIORITIES.items()}
    }
    path.write_text(yaml.safe_dump(document))
    return path


@dataclass
class Tally:
    fault: str
    expected: int
    started: float  # time.monotonic(); the fault's interval ends where the next one's starts
    ended: float = 0.0
    pages: dict[str, int] = field(default_factory=dict)  # receiver -> pages
    alerts: int = 0  # firing alerts recorded in the interval (by the receiver without topology)
    spread: float = 0.0  # seconds between the interval's first and last alert (fast time)
    what: list[str] = field(default_factory=list)  # those alerts: "+12.3s ServiceDown (asset-service)"
    paged: dict[str, list[str]] = field(default_factory=dict)  # receiver -> the pages' titles
    causes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    background: dict[str, int] = field(default_factory=dict)  # receiver -> pages for alerts it did not cause

    def caused(self, alert: dict[str, Any]) -> bool:
        by_name = self.causes == ANY or alert["alertname"] in self.causes
        return by_name and (not self.services or alert["service"] in self.services)


def page_key(document: dict[str, Any]) -> str:
    """One page per PagerDuty dedup_key: an incident's key, or an alert's identity."""
    incident = document.get("incident")
    if incident:
        return f"incident-{incident['key']}"
    alert = document["alert"]
    return f"{alert['fingerprint']}-{alert['startsAt']:.3f}"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def count(pipeline: Pipeline, tallies: list[Tally]) -> None:
    """Each fault's pages at the webhook sink (by receiver) and alerts, in its interval: those about
    the services it affects; pages about other services in the interval are its background."""
    offset = time.time() - time.monotonic()  # monotonic -> epoch
    requests = [(r.path, r.received_at, r.json()) for r in pipeline.sinks["webhook"].received()]
    history = pipeline.history("baseline")
    for tally in tallies:
        for name, path in (("incidents", "/receiver"), ("every alert", "/baseline")):
            pages: dict[str, str] = {}
            other: set[str] = set()
            for where, at, document in requests:
                if where != path or not tally.started <= at < tally.ended or document["action"] != "trigger":
                    continue
                if tally.caused(document["alert"]):
                    pages.setdefault(page_key(document), document["title"])
                else:
                    other.add(page_key(document))
            tally.pages[name] = len(pages)
            tally.paged[name] = sorted(pages.values())
            tally.background[name] = len(other - set(pages))
        start = tally.started + offset
        alerts = sorted(
            (
                (epoch(a["firstSeen"]), a)
                for a in history
                if start <= epoch(a["firstSeen"]) < tally.ended + offset and tally.caused(a)
            ),
            key=lambda pair: pair[0],
        )
        tally.alerts = len(alerts)
        tally.spread = alerts[-1][0] - alerts[0][0] if alerts else 0.0
        tally.what = [
            f"+{at - start:.1f}s {a['alertname']} ({a['service']}) {a['priority']}, "
            + (f"resolved +{epoch(a['resolvedAt']) - start:.1f}s" if a["resolvedAt"] else "still firing")
            for at, a in alerts
        ]


def run_faults(workdir: Path) -> list[Tally]:
    """The faults through the pipeline on a broker of its own (it goes down last)."""
    (workdir / "kafka").mkdir(parents=True, exist_ok=True)
    broker = PrivateKafka(workdir / "kafka")
    broker.start()
    try:
        return _run_faults(workdir, broker)
    finally:
        broker.stop()


def _run_faults(workdir: Path, broker: PrivateKafka) -> list[Tally]:
    config = ReceiverConfig.from_environ({})
    common = {
        "RECEIVER_ROUTING_FILE": str(routing(workdir / "routing.yaml")),
        "RECEIVER_INCIDENT_WINDOW": f"{config.incident_window / SPEED:g}s",
        "RECEIVER_INCIDENT_COOLDOWN": f"{config.incident_cooldown / SPEED:g}s",
    }
    tallies: list[Tally] = []
    with Pipeline.running(
        workdir / "pipeline",
        fake_services_timeline(),
        brokers=broker.brokers,
        receiver_env={**common, "RECEIVER_TOPOLOGY_FILE": str(TOPOLOGY)},
        baseline_env=common,
    ) as pipeline:
        for fault in OUTAGES:
            first = fault.phases[0][0]
            started = pipeline.fake_started_at + first - 0.5
            tallies.append(Tally(fault.name, fault.expected, started, causes=fault.causes, services=fault.services))
        for tally, following in itertools.pairwise(tallies):
            tally.ended = following.started
        wait_for(lambda: pipeline.fake_time() >= CONTROL_FROM, CONTROL_FROM + 60, "the outages' end", 0.5)
        tallies[-1].ended = time.monotonic()
        for fault in SCENARIOS:
            tally = Tally(fault.name, fault.expected, time.monotonic(), causes=fault.causes, services=fault.services)
            if fault.kafka:
                broker.stop()
                time.sleep(fault.hold)
                broker.start()
                time.sleep(GAP * 2)  # the backlog drains; lag and consistency alerts resolve
            else:
                pipeline.set_faults(**fault.control)
                time.sleep(fault.hold)
                pipeline.clear_faults()
                time.sleep(GAP)
            tally.ended = time.monotonic()
            tallies.append(tally)
        count(pipeline, tallies)
    for tally in tallies:
        print(f"incidents bench: {tally}", flush=True)
    return tallies


# --- the make run demo ---


def demo_pages(workdir: Path) -> tuple[int, int]:
    """`monitoring run` as a new user runs it: (pages, alerts) for its transaction-service outage."""
    ports = {name: free_port() for name in ("exporter", "receiver", "prometheus", "alertmanager", "node")}
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "POSTGRES_URI", "MONGODB_URI")},
        "EXPORTER_PORT": str(ports["exporter"]),
        "RECEIVER_PORT": str(ports["receiver"]),
        "PROMETHEUS_PORT": str(ports["prometheus"]),
        "ALERTMANAGER_PORT": str(ports["alertmanager"]),
    }
    run_dir = workdir / "run"
    argv = [sys.executable, "-m", "ops.cli", "run", "--run-dir", str(run_dir)]
    argv += ["--node-exporter-port", str(ports["node"]), "--platform-port", "0"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    notifications = run_dir / "notifications.jsonl"
    key_file = run_dir / "receiver-api-key"

    def outage() -> list[dict[str, Any]]:
        if not notifications.exists():
            return []
        lines = [json.loads(line) for line in notifications.read_text().splitlines() if line]
        return [d for d in lines if d["alert"]["alertname"] == "ServiceDown"]

    try:
        # the demo takes transaction-service down 30 s after start; both signals have fired by ~45 s
        wait_for(lambda: len(outage()) >= 2, 150, "the demo's ServiceDown notifications", 0.5)
        time.sleep(10)
        history = get_json(f"http://127.0.0.1:{ports['receiver']}/api/v1/alerts", key_file.read_text().strip())
        alerts = [a for a in history["alerts"] if a["alertname"] == "ServiceDown" and a["status"] == "firing"]
        pages = {page_key(d) for d in outage() if d["action"] == "trigger"}
        return len(pages), len(alerts)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- intake p99, topology on and off ---

ROUNDS = 4
ROUND_WEBHOOKS = 150
RATE = 50.0
PARTS = 5000
PLATFORM_SERVICES = ("asset-service", "portfolio-service", "transaction-service")


def generated_topology(path: Path, parts: int) -> Path:
    """``parts`` parts in 50 groups: a broker, 9 topics on it, services on the topics."""
    rng = random.Random(5)  # noqa: S311 - reproducible test data, not a secret
    document: list[dict[str, Any]] = []
    per_group = parts // 50
    for g in range(50):
        document.append({"name": f"broker-{g}", "match": [f'service="broker-{g}"']})
        for t in range(9):
            document.append({"name": f"topic-{g}-{t}", "depends_on": [f"broker-{g}"], "match": [f'topic="t-{g}-{t}"']})
        for s in range(per_group - 10):
            deps = [f"topic-{g}-{rng.randrange(9)}", f"topic-{g}-{rng.randrange(9)}"]
            document.append(
                {"name": f"svc-{g}-{s}", "depends_on": sorted(set(deps)), "match": [f'service="svc-{g}-{s}"']}
            )
    path.write_text(yaml.safe_dump({"parts": document}))
    return path


def webhook(tag: str, seq: int, services: list[str]) -> bytes:
    """10 alerts firing on ``services``' parts, and the resolve of those sent 5 webhooks before."""
    names = ("ServiceDown", "HighLatency", "ErrorBudgetBurn", "EventLagHigh", "PerformanceAnomaly")

    def one(n: int, k: int, status: str) -> dict[str, Any]:
        service = services[(n * 10 + k) % len(services)]
        return {
            "status": status,
            "labels": {"alertname": names[k % len(names)], "priority": "high", "service": service, "run": tag},
            "annotations": {"summary": "benchmark alert"},
            "startsAt": "2026-03-02T08:59:00Z",
            "endsAt": "2026-03-02T09:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"{abs(hash(tag)) % 0xFFFF:04x}{n:08x}{k:02x}",
        }

    alerts = [one(seq, k, "firing") for k in range(10)]
    if seq >= 5:
        alerts += [one(seq - 5, k, "resolved") for k in range(10)]
    return json.dumps({"version": "4", "groupKey": tag, "status": "firing", "receiver": "r", "alerts": alerts}).encode()


def paced(port: int, bodies: list[bytes]) -> list[float]:
    """The webhooks at ``RATE``, on one persistent connection (as Alertmanager keeps them)."""
    latencies = []
    interval = 1.0 / RATE
    sender = Client(port)
    try:
        start = time.monotonic()
        for k, body in enumerate(bodies):
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            latencies.append(sender.post(body))
    finally:
        sender.close()
    return latencies


def intake(workdir: Path) -> dict[str, list[list[float]]]:
    """Each setup's webhook latencies (seconds), round by round (bench/rounds.py interleaves them)."""
    generated = generated_topology(workdir / "generated.yaml", PARTS)
    big_services = [f"svc-{g}-{s}" for g in range(50) for s in range(0, PARTS // 50 - 10, 7)]
    setups: dict[str, tuple[dict[str, str], list[str]]] = {
        "off": ({}, list(PLATFORM_SERVICES)),
        "shipped topology": ({"RECEIVER_TOPOLOGY_FILE": str(TOPOLOGY)}, list(PLATFORM_SERVICES)),
        f"{PARTS:,} parts": ({"RECEIVER_TOPOLOGY_FILE": str(generated)}, big_services),
    }
    latencies: dict[str, list[list[float]]] = {name: [] for name in setups}
    with (
        fresh_database() as db_off,
        fresh_database() as db_shipped,
        fresh_database() as db_big,
    ):
        uris = dict(zip(setups, (db_off, db_shipped, db_big), strict=True))
        for uri in uris.values():
            database = PostgresDatabase(uri)
            SqlAlertHistory(database).migrate()
            database.close()
        dead = f"http://127.0.0.1:{free_port()}"  # jobs are written; delivery is off
        common = {"RECEIVER_DELIVERY": "off", "RECEIVER_WORKERS": "2", "RECEIVER_SLACK_WEBHOOK_URL": dead}
        with (
            receiver(uris["off"], **common, **setups["off"][0]) as off,
            receiver(uris["shipped topology"], **common, **setups["shipped topology"][0]) as shipped,
            receiver(uris[f"{PARTS:,} parts"], **common, **setups[f"{PARTS:,} parts"][0]) as big,
        ):
            ports = dict(zip(setups, (off, shipped, big), strict=True))
            for name, port in ports.items():  # warm every worker's pool
                paced(port, [webhook(f"warm-{name}", k, setups[name][1]) for k in range(10)])

            def step(name: str) -> None:
                tag = f"{name}-{len(latencies[name])}"
                bodies = [webhook(tag, k, setups[name][1]) for k in range(ROUND_WEBHOOKS)]
                latencies[name].append(paced(ports[name], bodies))

            interleave([partial(step, name) for name in setups], ROUNDS)
    return latencies


# --- the results ---


def run(include_demo: bool = True) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="incidents-bench-") as tmp:
        workdir = Path(tmp)
        tallies = run_faults(workdir)
        demo = demo_pages(workdir) if include_demo else None
        latencies = intake(workdir)
    write_details(tallies, demo, latencies)
    faults = sum(t.expected for t in tallies)

    def once(value: float) -> Figures:  # one run through the pipeline: a count, not a timing
        return Figures.once(value)

    results = [
        Result(
            f"pages for {len(tallies)} faults ({faults} causes) through the pipeline, with incidents",
            once(sum(t.pages["incidents"] for t in tallies)),
            "pages",
            "every alert its own page, same run",
            once(sum(t.pages["every alert"] for t in tallies)),
            f"{faults} (one per cause)",
        ),
        Result(
            "faults with no page, with incidents",
            once(sum(1 for t in tallies if t.pages["incidents"] == 0)),
            "faults",
            "every alert its own page",
            once(sum(1 for t in tallies if t.pages["every alert"] == 0)),
            "0",
        ),
    ]
    if demo is not None:
        results.append(
            Result(
                "make run demo outage: pages",
                once(demo[0]),
                "pages",
                "its alerts (each a page before)",
                once(demo[1]),
                "1",
            )
        )
    off = Figures.pooled(latencies["off"], p99)
    for name, rounds in latencies.items():
        if name != "off":
            line = f"receiver intake p99 at {RATE:g} webhooks/s, {name}"
            results.append(Result(line, Figures.pooled(rounds, p99), "µs", "topology off", off, ""))
    return results


def p99(latencies: Sequence[float]) -> float:
    return p(list(latencies), 99)


def write_details(tallies: list[Tally], demo: tuple[int, int] | None, latencies: dict[str, list[list[float]]]) -> Path:
    """Every fault's pages, alerts and what they were, and the intake figures: bench/results/incidents.json."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "incidents.json"
    pooled = {name: [x for r in rounds for x in r] for name, rounds in latencies.items()}
    document = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "faults": [
            {
                "fault": t.fault,
                "expected_pages": t.expected,
                "pages_with_incidents": t.pages["incidents"],
                "pages_every_alert": t.pages["every alert"],
                "background_pages": t.background,
                "alerts": t.alerts,
                "alert_spread_seconds_fast": round(t.spread, 2),
                "alerts_seen": t.what,
                "pages_seen": t.paged,
            }
            for t in tallies
        ],
        "make_run_demo": None if demo is None else {"pages": demo[0], "alerts": demo[1]},
        "intake_p50_us": {name: round(p(v, 50)) for name, v in pooled.items()},
        "intake_p99_us": {name: round(p(v, 99)) for name, v in pooled.items()},
        "intake_p99_us_by_round": {name: [round(p(r, 99)) for r in rounds] for name, rounds in latencies.items()},
        "intake_webhooks": {name: len(v) for name, v in pooled.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


if __name__ == "__main__":
    from bench.report import render

    print(render(run(include_demo="--no-demo" not in sys.argv)))
