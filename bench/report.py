"""Benchmark results: printed as a table and written to bench/results/latest.json.

A line's value and its baseline's are medians over interleaved rounds (bench/rounds.py); the
JSON keeps every round's figure, the spread of each side, and the machine's load when each
figure was taken. A line whose spread on either side is wider than 15% carries a note saying so.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.rounds import SPREAD_LIMIT, Figures

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Result:
    name: str
    subject: Figures
    unit: str
    baseline_name: str
    baseline: Figures
    goal: str = ""

    @property
    def value(self) -> float:
        return self.subject.value

    @property
    def baseline_value(self) -> float:
        return self.baseline.value

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    @property
    def note(self) -> str:
        """Why this line's figures are not to be trusted as they stand, or ''."""
        wide = [
            f"{side} spread {figures.spread:.0%}"
            for side, figures in (("value", self.subject), ("baseline", self.baseline))
            if figures.spread > SPREAD_LIMIT
        ]
        return f"{' and '.join(wide)} > {SPREAD_LIMIT:.0%}: noisy" if wide else ""

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "baseline_name": self.baseline_name,
            "baseline_value": self.baseline_value,
            "goal": self.goal,
            "ratio": round(self.ratio, 4),
            "rounds": list(self.subject.values),
            "spread": round(self.subject.spread, 4),
            "baseline_rounds": list(self.baseline.values),
            "baseline_spread": round(self.baseline.spread, 4),
            "baseline_fixed": self.baseline.fixed,
            "load_1m": list(self.subject.loads),
            "baseline_load_1m": list(self.baseline.loads),
            "note": self.note,
        }


def write(results: list[Result], path: Path | None = None) -> Path:
    path = path or RESULTS / "latest.json"
    path.parent.mkdir(exist_ok=True)
    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": [round(load, 2) for load in os.getloadavg()],  # 1, 5, 15 min, when written
        },
        "results": [r.document() for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def render(results: list[Result]) -> str:
    rows = [("benchmark", "value", "baseline", "ratio", "spread", "goal")]
    for r in results:
        baseline_spread = "fixed" if r.baseline.fixed else f"{r.baseline.spread:.0%}"
        rows.append(
            (
                r.name,
                f"{r.value:,.0f} {r.unit}",
                f"{r.baseline_name}: {r.baseline_value:,.0f} {r.unit}",
                f"{r.ratio:.3f}x",
                f"{r.subject.spread:.0%} / {baseline_spread}{' (!)' if r.note else ''}",
                r.goal,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)
    noisy = [f"(!) {r.name}: {r.note}" for r in results if r.note]
    rounds = "values are medians of interleaved rounds; spread = (max - min) / median, value / baseline"
    return "\n".join([table, "", rounds, *noisy])
