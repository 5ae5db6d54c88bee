"""promtool parses every PromQL panel query (with Grafana's variables substituted)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests import services
from tests.e2e.grafana.test_promql_panels import promql_queries


def test_promtool_parses_every_promql_panel_query(tmp_path: Path) -> None:
    queries = promql_queries()
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [{"record": f"panel:query:{i}", "expr": e} for i, e in enumerate(queries.values())],
            }
        ]
    }
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(
        [services.binary("promtool", "prometheus"), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout
