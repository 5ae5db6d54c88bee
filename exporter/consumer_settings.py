"""How the exporter's Kafka consumers (events, consistency checks) fetch: shared by both processes."""

from __future__ import annotations

from typing import Any

from exporter.config import ExporterConfig

METADATA_REFRESH_MS = 10_000  # librdkafka's default is 5 minutes

# What each of the two consumers (events, consistency checks) fetches ahead. Under a backlog the
# prefetch is what grows: librdkafka's defaults (100,000 queued messages per partition, 64 MiB
# queued, 50 MB fetches of compressed batches, each batch kept whole while one of its records is
# queued) took the process past 300 MiB RSS. Queued records are what a consumer has not yet handed
# to Python: 4 MiB (about 10,000 platform events) is a fifth of a second at 50,000 events/s, and a
# partition is fetched again as soon as its queue falls under the thresholds.
CONSUMER_PREFETCH: dict[str, Any] = {
    "queued.max.messages.kbytes": 4096,
    "queued.min.messages": 2000,  # per partition
    "fetch.max.bytes": 1024 * 1024,  # librdkafka requires at least message.max.bytes (1,000,000)
    # Above those thresholds librdkafka postpones the partition's next fetch by this long, 1 s by
    # default: with small queues a consumer then drained its queue in a fraction of that second
    # and waited out the rest, which held the whole process at 16,000 events/s (docs/metrics.md,
    # "Profile of the whole process").
    "fetch.queue.backoff.ms": 20,
}


def consumer_config(config: ExporterConfig) -> dict[str, Any]:
    """librdkafka settings of both consumers, beyond brokers, group and commit handling (``KafkaSource``)."""
    return {
        **config.shared.kafka_security.client_config(),  # TLS
        "session.timeout.ms": int(config.session_timeout_seconds * 1000),
        **CONSUMER_PREFETCH,
        # A topic created after start (and a partition added) is found at the next metadata refresh.
        "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
    }
