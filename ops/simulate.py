"""The simulator's subcommands of the ``monitoring`` CLI: ``simulate``, ``fake-services``, ``load``.

``register(subparsers)`` adds them; ``run(args)`` executes one. Heavy imports happen in
``run`` so ``monitoring --help`` stays fast. Bad input (a scenario file, a non-loopback
target) is reported once here with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

COMMANDS = ("simulate", "fake-services", "load")
DEFAULT_BROKERS = "127.0.0.1:9092"


def register(sub: Any) -> None:
    simulate = sub.add_parser("simulate", help="produce the platform's domain events to Kafka (see docs/simulator.md)")
    simulate.add_argument("--scenario", type=Path, help="scenario YAML (profile, seed, bounds, timeline)")
    simulate.add_argument("--brokers", default=os.environ.get("KAFKA_BROKERS") or DEFAULT_BROKERS)
    simulate.add_argument("--seed", type=int, help="overrides the scenario's seed")
    simulate.add_argument("--rate", type=float, help="steps per second; overrides the profile's rate")
    simulate.add_argument("--steps", type=int, help="stop after this many steps")
    simulate.add_argument("--duration", type=float, help="stop after this many seconds")
    simulate.add_argument("--topic-prefix", default="", help="prefix for asset.events, portfolio.events, ...")
    simulate.add_argument("--control-port", type=int, help="serve the control endpoint on 127.0.0.1:PORT (0: any)")
    simulate.add_argument("--consumer-group", help="also run a platform consumer group of this name")
    simulate.add_argument("--report", type=Path, help="write the ground-truth report (JSON) here; default stdout")

    fake = sub.add_parser("fake-services", help="serve asset/portfolio/transaction-service HTTP metrics")
    fake.add_argument("--scenario", type=Path, help="scenario YAML; phases drive error ratio, latency, health")
    fake.add_argument("--port", type=int, default=9400)
    fake.add_argument("--seed", type=int, default=0)
    fake.add_argument("--synthetic-series", type=int, default=0, help="also expose N synthetic series")
    fake.add_argument("--duration", type=float, help="stop after this many seconds")

    load = sub.add_parser("load", help="load tools (loopback targets only)")
    targets = load.add_subparsers(dest="target", required=True)
    kafka = targets.add_parser("kafka", help="produce platform events at a target rate")
    kafka.add_argument("--brokers", default=os.environ.get("KAFKA_BROKERS") or DEFAULT_BROKERS)
    kafka.add_argument("--topic", required=True)
    kafka.add_argument("--rate", type=float, help="records per second; omit for as fast as possible")
    kafka.add_argument("--count", type=int, default=100_000)
    kafka.add_argument("--duration", type=float, default=60.0)
    kafka.add_argument("--seed", type=int, default=0)
    webhook = targets.add_parser("webhook", help="POST Alertmanager v4 webhooks to a receiver")
    webhook.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8080/webhook/alertmanager")
    webhook.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    webhook.add_argument("--count", type=int, default=1000)
    webhook.add_argument("--duration", type=float, default=60.0)
    webhook.add_argument("--group-size", type=int, default=10, help="alerts per webhook")
    webhook.add_argument("--concurrency", type=int, default=4)
    webhook.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from simulator.loopback import NotLoopback
    from simulator.scenario import ScenarioError

    try:
        match args.command:
            case "simulate":
                return _simulate(args)
            case "fake-services":
                return _fake_services(args)
            case _:
                return _load(args)
    except (ScenarioError, NotLoopback, ValueError) as exc:
        print(f"monitoring {args.command}: {exc}", file=sys.stderr)
        return 2


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _scenario(args: argparse.Namespace) -> Any:
    import msgspec

    from simulator.scenario import Scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    changes: dict[str, Any] = {}
    for name in ("seed", "steps", "duration"):
        if getattr(args, name, None) is not None:
            changes[name] = getattr(args, name)
    if getattr(args, "rate", None) is not None:
        changes["profile"] = msgspec.structs.replace(scenario.profile, rate=args.rate)
    if "steps" not in changes and "duration" not in changes and scenario.steps is None and scenario.duration is None:
        raise ValueError("unbounded: give --steps or --duration (or steps/duration in the scenario)")
    return msgspec.structs.replace(scenario, **changes)


def _simulate(args: argparse.Namespace) -> int:
    from monitoring.logs import configure_logging
    from simulator.control import ControlServer, create_control_app
    from simulator.generator import topics_for
    from simulator.kafka_sink import KafkaRecordSink
    from simulator.platform_consumer import PlatformConsumer
    from simulator.report import GroundTruth
    from simulator.runner import Simulation

    configure_logging(os.environ.get("LOG_FORMAT", "auto"), os.environ.get("LOG_LEVEL", "info"), sys.stderr)
    scenario = _scenario(args)
    topics = topics_for(args.topic_prefix)
    truth = GroundTruth()
    simulation = Simulation(scenario, KafkaRecordSink(args.brokers, truth), topics=topics, truth=truth)
    stop = _stop_on_signals()
    control = consumer = None
    if args.control_port is not None:
        control = ControlServer(create_control_app(simulation), args.control_port)
        control.start()
        print(f"control endpoint: http://127.0.0.1:{control.port}/faults", file=sys.stderr, flush=True)
    if args.consumer_group:
        group = args.consumer_group.replace("{uuid}", uuid.uuid4().hex[:8])
        consumer = PlatformConsumer(args.brokers, group, [topics["transaction-service"]], simulation.current_faults)
        consumer.start()
        print(f"platform consumer group: {group}", file=sys.stderr, flush=True)
    try:
        simulation.run(stop)
    finally:
        if consumer is not None:
            consumer.stop()
        if control is not None:
            control.stop()
    text = json.dumps(truth.as_dict(), indent=2) + "\n"
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0 if truth.delivery_failures == 0 else 1


def _fake_services(args: argparse.Namespace) -> int:
    import msgspec

    from simulator.fake_services import SERVICES, FakeServices
    from simulator.scenario import Scenario, load_scenario

    scenario = load_scenario(args.scenario) if args.scenario else Scenario(seed=args.seed)
    if args.duration is not None:
        scenario = msgspec.structs.replace(scenario, duration=args.duration)
    ports = {name: args.port + i for i, name in enumerate(SERVICES)} if args.port else dict.fromkeys(SERVICES, 0)
    fake = FakeServices(scenario, ports, synthetic_series=args.synthetic_series)
    stop = _stop_on_signals()
    fake.start()
    for name, port in fake.ports().items():
        print(f"{name:20} http://127.0.0.1:{port}/metrics  /health", flush=True)
    try:
        fake.run(stop=stop)
    finally:
        fake.stop()
    return 0


def _load(args: argparse.Namespace) -> int:
    if args.target == "kafka":
        from simulator.kafka_load import run_kafka_load
        from simulator.kafka_sink import KafkaRecordSink
        from simulator.report import GroundTruth

        sink = KafkaRecordSink(args.brokers, GroundTruth())
        kafka = run_kafka_load(
            sink, args.topic, rate=args.rate, count=args.count, duration=args.duration, seed=args.seed
        )
        print(kafka.summary(), flush=True)
        return 0 if kafka.undelivered == 0 else 1
    from simulator.webhook_load import run_webhook_load

    webhook = run_webhook_load(
        args.url,
        rate=args.rate,
        count=args.count,
        duration=args.duration,
        group_size=args.group_size,
        concurrency=args.concurrency,
        seed=args.seed,
    )
    print(webhook.summary(), flush=True)
    return 0 if webhook.failed == 0 else 1
