from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.receiver.conftest import sinks
from tests.otlp_collector import OtlpCollector

__all__ = ["collector", "sinks"]


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    made = OtlpCollector()
    made.start()
    yield made
    made.stop()
