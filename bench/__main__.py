"""`python -m bench [NAME ...]`: run the benchmarks, print a table, write the results.

Every benchmark by default, written to bench/results/latest.json: all figures side by side
from one run. Naming some (``python -m bench exporter tracing``) runs only those and writes
bench/results/partial.json, leaving latest.json alone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import (
    alert_latency,
    alert_storage,
    decoding,
    exporter_series,
    prometheus_series,
    receiver,
    scale_out,
    simulator,
)
from bench import backtest as backtest_bench
from bench import deadmans_switch as deadmans_switch_bench
from bench import exporter as exporter_bench
from bench import incidents as incidents_bench
from bench import ops as ops_bench
from bench import receiver_events as receiver_events_bench
from bench import reports as reports_bench
from bench import security as security_bench
from bench import tracing as tracing_bench
from bench.report import RESULTS, Result, render, write

BENCHMARKS: dict[str, Callable[[], list[Result]]] = {
    "decoding": decoding.run,
    "simulator": simulator.run,
    "exporter": exporter_bench.run,
    "tracing": tracing_bench.run,
    "receiver": receiver.run,
    "deadmans_switch": deadmans_switch_bench.run,
    "receiver_events": receiver_events_bench.run,
    "alert_latency": alert_latency.run,
    "ops": ops_bench.run,
    "security": security_bench.run,
    # capacity figures (docs/operations.md): sizes measured once each, and the exporter group's scale-out
    "alert_storage": alert_storage.run,
    "exporter_series": exporter_series.run,
    "prometheus_series": prometheus_series.run,
    "scale_out": scale_out.run,
    "backtest": backtest_bench.run,
    "reports": reports_bench.run,
    # pages per fault with incidents vs every alert its own page (one pipeline run), intake p99 topology on/off
    "incidents": incidents_bench.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(BENCHMARKS))
    names = parser.parse_args(argv).names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    results: list[Result] = []
    for name in names:
        results += BENCHMARKS[name]()
    print(render(results))
    path = RESULTS / ("latest.json" if names == list(BENCHMARKS) else "partial.json")
    print(f"\nwritten to {write(results, path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
