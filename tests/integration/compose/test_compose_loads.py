"""docker-compose.yml loads with compose-go, the loader inside Docker Compose.

No Docker engine runs here and `docker compose` is not installed, so a small Go program
(composecheck/) calls compose-go's loader: the compose-spec JSON schema, variable
interpolation (with `${VAR:?}` errors), and consistency checks (undefined services in
depends_on, volumes, secrets, configs), as `docker compose config` does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import services

REPO = Path(__file__).resolve().parents[3]
SOURCE = Path(__file__).resolve().parent / "composecheck"
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "GRAFANA_ADMIN_PASSWORD": "admin-secret",
    "RECEIVER_WEBHOOK_TOKEN": "token",
}


@pytest.fixture(scope="module")
def composecheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    binary = tmp_path_factory.mktemp("composecheck") / "composecheck"
    subprocess.run(
        [services.binary("go", "golang"), "build", "-mod=readonly", "-o", str(binary), "."],
        cwd=SOURCE,
        check=True,
        timeout=300,
        capture_output=True,
    )
    return binary


def load(composecheck: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        [str(composecheck), str(REPO / "docker-compose.yml")],
        env={**keep, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_compose_file_loads_with_the_docker_compose_loader(composecheck: Path) -> None:
    result = load(composecheck, SECRETS)
    assert result.returncode == 0, result.stderr
    project: dict[str, Any] = json.loads(result.stdout)
    assert project["name"] == "investment-monitoring"
    assert "--storage.tsdb.retention.time=15d" in project["services"]["prometheus"]["command"]
    exporter = project["services"]["exporter"]["environment"]
    assert exporter["POSTGRES_URI"] == "postgresql://monitoring:pg-secret@127.0.0.1:5432/monitoring"
    assert exporter["EXPORTER_PORT"] == "9108"


def test_the_environment_moves_the_ports(composecheck: Path) -> None:
    result = load(composecheck, {**SECRETS, "PROMETHEUS_PORT": "19090", "GRAFANA_PORT": "13000"})
    assert result.returncode == 0, result.stderr
    services_ = json.loads(result.stdout)["services"]
    assert "--web.listen-address=127.0.0.1:19090" in services_["prometheus"]["command"]
    assert services_["grafana"]["environment"]["GF_SERVER_HTTP_PORT"] == "13000"
    assert services_["grafana"]["environment"]["GRAFANA_PROMETHEUS_URL"] == "http://127.0.0.1:19090"


def test_a_missing_secret_stops_the_stack_naming_the_variable(composecheck: Path) -> None:
    result = load(composecheck, {k: v for k, v in SECRETS.items() if k != "RECEIVER_WEBHOOK_TOKEN"})
    assert result.returncode != 0
    assert "required variable RECEIVER_WEBHOOK_TOKEN is missing a value" in result.stderr
