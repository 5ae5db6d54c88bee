"""One pipeline for the module's scenarios, which run in sequence with distinct labels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.pipeline.harness import Pipeline

# The fake platform services' timeline (seconds since they start). Error ratios stay well
# inside the 99.9% SLO so that no error-budget alert fires in the background; the request
# rate is low and steady so the anomaly baseline is tight.
ASSET_DOWN_AT, ASSET_UP_AT = 30, 45
STEP_AT, STEP_END = 150, 162
FAKE_SERVICES = f"""\
name: pipeline-services
seed: 3
duration: 900s
profile: {{rate: 8}}
phases:
  - {{at: 0s, name: steady, http_error_ratio: 0.0005}}
  - {{at: {ASSET_DOWN_AT}s, name: asset-down, health: down, services: [asset-service]}}
  - {{at: {ASSET_UP_AT}s, name: steady-again, http_error_ratio: 0.0005}}
  - {{at: {STEP_AT}s, name: request-step, rate: 40, http_error_ratio: 0.0005}}
  - {{at: {STEP_END}s, name: steady-after-step, http_error_ratio: 0.0005}}
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with Pipeline.running(tmp_path_factory.mktemp("pipeline"), FAKE_SERVICES) as running:
        yield running
