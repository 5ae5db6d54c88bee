"""The documented remote_write and federation examples are valid Prometheus configurations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import services

EXAMPLES = Path(__file__).resolve().parents[3] / "prometheus" / "examples"


@pytest.mark.parametrize("name", ["remote-write.yml", "federation.yml"])
def test_promtool_accepts_the_example(name: str, tmp_path: Path) -> None:
    secret = Path("/etc/prometheus/secrets/remote-write-password")
    text = (EXAMPLES / name).read_text().replace(str(secret), str(tmp_path / "password"))
    (tmp_path / "password").write_text("not-a-real-password\n")
    config = tmp_path / name
    config.write_text(text.replace("../rules/*.yml", str(EXAMPLES.parent / "rules" / "*.yml")))
    result = subprocess.run(
        [services.binary("promtool", "prometheus"), "check", "config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
