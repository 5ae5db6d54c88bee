"""Benchmark results: printed as a table and written to bench/results/latest.json."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float
    goal: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")


def write(results: list[Result], name: str = "latest") -> Path:
    """``bench/results/<name>.json``: ``latest`` for the whole run, a module's name when run alone."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "results": [{**asdict(r), "ratio": round(r.ratio, 4)} for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def render(results: list[Result]) -> str:
    rows = [("benchmark", "value", "baseline", "ratio", "goal")]
    for r in results:
        rows.append(
            (
                r.name,
                f"{r.value:,.0f} {r.unit}",
                f"{r.baseline_name}: {r.baseline_value:,.0f} {r.unit}",
                f"{r.ratio:.3f}x",
                r.goal,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
