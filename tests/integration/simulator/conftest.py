from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.simulator.readback import create_platform_topics, delete_topics


@pytest.fixture
def topic_prefix(kafka_brokers: str) -> Iterator[str]:
    """Fresh asset/portfolio/transaction topics (three partitions each) under a unique prefix."""
    prefix = f"test.{uuid.uuid4().hex[:12]}."
    names = create_platform_topics(kafka_brokers, prefix)
    yield prefix
    delete_topics(kafka_brokers, names)
