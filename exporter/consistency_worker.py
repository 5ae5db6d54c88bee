"""The consistency consumer in a process of its own: ``python -m exporter.consistency_worker``.

The exporter starts it while it holds the consistency lock and stops it when it loses the lock
(exporter/consistency_process.py); nobody runs it by hand. Between the two processes:

- stdin carries the exporter's configuration (pickled by the parent, which parsed and validated
  it), then nothing: its end means the exporter is gone, and the worker exits at once without
  committing, as it would have died with the exporter when it was a thread of it;
- the descriptor given as ``--report-fd`` carries the worker's metrics (exporter/metric_snapshot.py)
  every ``REPORT_INTERVAL`` and once more on stopping;
- SIGTERM or SIGINT stops it: the batch in hand is finished, offsets are committed, the last
  report is sent.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import signal
import sys
import threading
from typing import BinaryIO

import structlog
from prometheus_client import CollectorRegistry

from exporter import allocator, metric_snapshot
from exporter.config import ExporterConfig
from exporter.consistency import ConsistencyProcessor, load_rules
from exporter.consumer import ConsumeLoop
from exporter.consumer_settings import consumer_config
from exporter.garbage_collection import tune_for_batches
from exporter.kafka_status import KafkaStatus
from exporter.metrics import ConsistencyMetrics, EventMetrics
from exporter.sources import KafkaSource
from monitoring.logs import configure_logging

log = structlog.get_logger(__name__)

REPORT_INTERVAL = 0.25  # seconds; the exporter serves the latest report
PARENT_GONE = 3  # exit code


def run(config: ExporterConfig, reports: BinaryIO, stopping: threading.Event) -> None:
    """The consistency consumer until ``stopping`` is set, reporting its metrics."""
    allocator.tune(config.allocator)  # before its Kafka client starts its threads
    registry = CollectorRegistry()
    events = EventMetrics(registry)  # its consumer's commits and retries, its loop's errors
    metrics = ConsistencyMetrics(registry)
    shared = config.shared
    checker = ConsistencyProcessor(
        metrics, load_rules(config.consistency_rules), shared.collection.buffer_size, label_limit=config.label_limit
    )
    source = KafkaSource(
        shared.kafka_brokers,
        f"{config.group_id}.consistency",
        config.topics,
        metrics=events,
        status=KafkaStatus(),
        commit_interval=config.commit_interval_seconds,
        extra_config=consumer_config(config),
    )
    loop = ConsumeLoop(
        source,
        checker.process,
        shared.collection.batch_size,
        tick=checker.expire,
        name="consistency-loop",
        on_error=events.loop_errors.labels("consistency").inc,
    )
    tune_for_batches(shared.collection.batch_size)
    loop.start()
    try:
        while not stopping.wait(REPORT_INTERVAL):
            metric_snapshot.write(reports, metric_snapshot.take(registry))
    finally:
        loop.stop()  # the batch in hand, then a commit
        with contextlib.suppress(BrokenPipeError):  # the exporter is gone: nobody to tell
            metric_snapshot.write(reports, metric_snapshot.take(registry))


def _exit_when_the_parent_is_gone() -> None:
    # Until the end of stdin: the exporter died (it closes it only after we exit). Read unbuffered:
    # a thread blocked in the buffered reader would hold its lock when the interpreter shuts down.
    while os.read(sys.stdin.fileno(), 4096):
        pass
    log.warning("consistency_worker_parent_gone")
    sys.stdout.flush()
    os._exit(PARENT_GONE)  # no commit: the next leader reads again what we checked for a dead exporter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporter.consistency_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--report-fd", type=int, required=True, help="descriptor to write metric reports to")
    args = parser.parse_args(argv)
    # Our own parent wrote it, on a pipe only it holds: the configuration it already validated.
    config = pickle.load(sys.stdin.buffer)  # noqa: S301
    if not isinstance(config, ExporterConfig):
        raise TypeError(f"expected the exporter's configuration on stdin, got {type(config).__name__}")
    configure_logging(config.shared.log_format, config.shared.log_level)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stopping.set())
    threading.Thread(target=_exit_when_the_parent_is_gone, name="parent-watch", daemon=True).start()
    log.info("consistency_worker_started")
    with open(args.report_fd, "wb") as reports:
        run(config, reports, stopping)
    log.info("consistency_worker_stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
