from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.exporter.stream import Topics, create_topics, delete_topics


@pytest.fixture
def platform_topics(kafka_brokers: str) -> Iterator[Topics]:
    topics = create_topics(kafka_brokers)
    yield topics
    delete_topics(kafka_brokers, topics)


@pytest.fixture
def group_id() -> str:
    return f"test-exporter-{uuid.uuid4().hex[:10]}"
