"""Entry point: wire the registry, source, processor and HTTP server, run until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType

import structlog
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from exporter.config import ExporterConfig
from exporter.consumer import ConsumeLoop
from exporter.http import HttpServer, create_app
from exporter.metrics import EventMetrics
from exporter.processor import EventProcessor
from exporter.sources import EventSource, InProcessSource
from simulator.platform import PlatformModel

log = structlog.get_logger(__name__)


def build_source(config: ExporterConfig) -> tuple[EventSource, str]:
    if config.shared.kafka_brokers:
        raise NotImplementedError("the Kafka source arrives with [M3]; unset KAFKA_BROKERS for now")
    return InProcessSource(PlatformModel(seed=0), rate=config.inprocess_rate), "in-process"


def run(config: ExporterConfig) -> int:
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    processor = EventProcessor(EventMetrics(registry), clock=time.perf_counter)
    source, source_name = build_source(config)
    loop = ConsumeLoop(source, processor, config.shared.collection.batch_size)
    server = HttpServer(create_app(registry, ready=lambda: loop.alive), config.host, config.shared.exporter_port)

    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("exporter_stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop.start()
    server.start()
    log.info("exporter_started", url=f"http://{config.host}:{server.port}/metrics", source=source_name)
    stopping.wait()
    loop.stop()
    server.stop()
    log.info("exporter_stopped")
    return 0
