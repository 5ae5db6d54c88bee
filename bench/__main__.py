"""`python -m bench`: run every benchmark, print a table, write bench/results/latest.json."""

from __future__ import annotations

import sys

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
from bench import deadmans_switch as deadmans_switch_bench
from bench import exporter as exporter_bench
from bench import ops as ops_bench
from bench import receiver_events as receiver_events_bench
from bench import security as security_bench
from bench import tracing as tracing_bench
from bench.report import render, write


def main() -> int:
    results = [*decoding.run()]
    results += simulator.run()
    results += exporter_bench.run()
    results += tracing_bench.run()
    results += receiver.run()
    results += deadmans_switch_bench.run()
    results += receiver_events_bench.run()
    results += alert_latency.run()
    results += ops_bench.run()
    results += alert_storage.run()
    results += exporter_series.run()
    results += prometheus_series.run()
    results += scale_out.run()
    results += security_bench.run()
    print(render(results))
    print(f"\nwritten to {write(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
