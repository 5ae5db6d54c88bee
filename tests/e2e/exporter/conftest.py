from __future__ import annotations

# The same fresh platform topics and consumer group names as the exporter's integration tests.
from tests.integration.exporter.conftest import group_id, platform_topics  # noqa: F401
