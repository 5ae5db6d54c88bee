"""gunicorn's master loads the app's modules before it forks the workers, and only after the metrics
directory is set: prometheus_client chooses its multiprocess values when it is imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHECK = textwrap.dedent(
    """
    import sys
    import receiver.web.gunicorn_conf as conf
    assert "prometheus_client" not in sys.modules, "prometheus_client imported before on_starting"
    conf.on_starting(None)
    assert "receiver.web.app" in sys.modules, "the workers would import the app themselves"
    from prometheus_client import values
    print(values.ValueClass.__name__, flush=True)
    conf.on_exit(None)
    """
)


@pytest.mark.parametrize("preset", [False, True])
def test_the_master_imports_the_app_with_multiprocess_metrics(tmp_path: Path, preset: bool) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PROMETHEUS_MULTIPROC"))}
    env.update({"RECEIVER_DELIVERY": "off", "POSTGRES_URI": ""})
    if preset:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "MmapedValue"  # values written to the shared directory, summed across workers
