"""A real Prometheus holding history written for a test: OpenMetrics samples, backfilled with promtool.

``Timeline`` holds series as functions of time (``add``) or as samples taken from a live
registry (``record``); ``backfilled_prometheus`` writes them at a scrape interval into
OpenMetrics text, turns that into TSDB blocks with ``promtool tsdb
create-blocks-from openmetrics`` and starts Prometheus 2.42 on those blocks (and, when
given, with rule files loaded, so ``/api/v1/rules`` answers as in production).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests import services
from tests.processes import ServerProcess, start_prometheus

Value = Callable[[float], float | None]  # seconds since the timeline's start -> sample (None: no sample)


@dataclass
class Timeline:
    start: float  # unix seconds, a multiple of the scrape interval
    seconds: float
    scrape_interval: float = 15.0
    series: dict[str, tuple[dict[str, str], Value]] = field(default_factory=dict)
    scraped: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # series -> (offset, sample)

    @staticmethod
    def _key(name: str, labels: Mapping[str, str]) -> str:
        return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"

    def add(self, name: str, labels: dict[str, str], value: Value) -> None:
        self.series[self._key(name, labels)] = (labels, value)

    def record(self, name: str, labels: Mapping[str, str], offset: float, sample: float) -> None:
        """One sample taken ``offset`` seconds after the start (in time order per series)."""
        self.scraped.setdefault(self._key(name, labels), []).append((offset, sample))

    def counter(self, name: str, labels: dict[str, str], rate: Callable[[float], float]) -> None:
        """A counter growing at ``rate(t)`` per second (integrated per scrape)."""
        totals: dict[int, float] = {}

        def value(t: float) -> float:
            k = round(t / self.scrape_interval)
            if k not in totals:
                totals[k] = (totals.get(k - 1, 0.0) if k > 0 else 0.0) + rate(t) * self.scrape_interval
            return totals[k]

        self.add(name, labels, value)

    def openmetrics(self) -> str:
        families: dict[str, list[str]] = {}
        steps = math.floor(self.seconds / self.scrape_interval) + 1
        for key, (_, value) in self.series.items():
            name = key.split("{", 1)[0]
            lines = families.setdefault(name, [])
            for k in range(steps):
                offset = k * self.scrape_interval
                sample = value(offset)
                if sample is not None:
                    lines.append(f"{key} {sample!r} {self.start + offset:.3f}")
        for key, samples in self.scraped.items():
            lines = families.setdefault(key.split("{", 1)[0], [])
            lines.extend(f"{key} {sample!r} {self.start + offset:.3f}" for offset, sample in samples)
        out = []
        for name, lines in families.items():
            out.append(f"# TYPE {name} gauge")
            out.extend(lines)
        return "\n".join(out) + "\n# EOF\n"


def backfill(timeline: Timeline, workdir: Path) -> Path:
    """TSDB blocks of ``timeline`` in ``workdir/tsdb``."""
    source = workdir / "history.om"
    source.write_text(timeline.openmetrics())
    tsdb = workdir / "tsdb"
    result = subprocess.run(
        [
            services.binary("promtool", "prometheus"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(source),
            str(tsdb),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"promtool could not backfill: {result.stdout}{result.stderr}")
    return tsdb


@contextmanager
def backfilled_prometheus(
    timeline: Timeline,
    workdir: Path,
    rule_files: list[Path] | None = None,
    config: dict[str, object] | None = None,
    flags: tuple[str, ...] = (),
) -> Iterator[tuple[str, ServerProcess]]:
    """Prometheus on a free port over ``timeline``'s blocks; yields its URL and process."""
    backfill(timeline, workdir)
    document: dict[str, object] = {
        "global": {"scrape_interval": f"{timeline.scrape_interval:g}s", "evaluation_interval": "15s"},
        **(config or {}),
        "rule_files": [str(p) for p in rule_files or []],
    }
    port = services.free_port()
    server = start_prometheus(
        services.binary("prometheus", "prometheus"),
        yaml.safe_dump(document),
        workdir,
        port,
        "--storage.tsdb.retention.time=30d",
        *flags,
    )
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.stop()
