"""Recording rules inlined by the backtest give, at every instant, what a live Prometheus recorded.

A real Prometheus 2.42 scrapes itself every second and evaluates two groups of recording rules
(1s and 2s intervals) at the offsets it gives them. For every recorded series, an alerting
rule that reads it is expanded by the backtest (recording rules inlined, their own groups'
instants kept) and asked over the last seconds; Prometheus answers the same rule from what it
stored. The two must agree at every step, sample for sample.

Raw series are read one second in the past (``offset 1s``): a scrape still being written when
a rule ran is a race no history shows, and it is kept out of this comparison. The groups'
names are picked so their offsets are at least 300 ms apart, so the slower group always reads
what the faster one recorded before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import promql_parser as promql
import pytest
import requests
import yaml

from ops.rules.expansion import RecordingRules, running_recordings
from ops.rules.history import Chunk, PrometheusHistory
from ops.rules.rule_files import load_rule_files
from ops.rules.schedule import Schedule, prometheus_offset_ms
from tests import services
from tests.processes import ServerProcess, start_prometheus

pytestmark = pytest.mark.integration

RULES = """\
groups:
  - name: {fast}
    interval: 1s
    rules:
      - record: job:alloc:rate5s
        expr: sum by (job) (rate(go_memstats_alloc_bytes_total[5s] offset 1s))
      - record: job:alloc:previous_max3s  # a later rule of its own group: its previous evaluation
        expr: job:alloc:max3s
      - record: job:alloc:max3s
        expr: max_over_time(job:alloc:rate5s[3s])
      - record: clock
        expr: time()
  - name: {slow}
    interval: 2s
    rules:
      - record: job:alloc:avg4s
        expr: avg_over_time(job:alloc:rate5s[4s])
      - record: clock_read
        expr: clock
"""
RECORDED = ("job:alloc:rate5s", "job:alloc:previous_max3s", "job:alloc:max3s", "clock")
RECORDED_SLOW = ("job:alloc:avg4s", "clock_read")


@dataclass(frozen=True)
class Live:
    url: str
    rule_file: Path
    fast: str
    slow: str


def group_names(rule_file: Path) -> tuple[str, str]:
    """Two group names whose offsets Prometheus puts 300..700 ms apart (within each second)."""
    for n in range(1000):
        fast, slow = f"fast-{n}", f"slow-{n}"
        gap = (prometheus_offset_ms(str(rule_file), slow, 2.0) - prometheus_offset_ms(str(rule_file), fast, 1.0)) % 1000
        if 300 <= gap <= 700:
            return fast, slow
    raise AssertionError("no two group names 300 ms apart")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("live-prometheus")
    rule_file = workdir / "recording.yml"
    fast, slow = group_names(rule_file)
    rule_file.write_text(RULES.format(fast=fast, slow=slow))
    port = services.free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rule_file)],
        "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }
    server: ServerProcess = start_prometheus(
        services.binary("prometheus", "prometheus"), yaml.safe_dump(config), workdir, port
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and recorded_for(url, "job:alloc:avg4s") < 20.0:
            time.sleep(0.5)
        yield Live(url, rule_file, fast, slow)
    finally:
        server.stop()


def recorded_for(url: str, name: str) -> float:
    """Seconds over which Prometheus has recorded ``name``."""
    answer = requests.get(f"{url}/api/v1/query", params={"query": f"{name}[1m]"}, timeout=5).json()
    result = answer["data"]["result"]
    if not result:
        return 0.0
    times = [float(t) for t, _ in result[0]["values"]]
    return times[-1] - times[0]


def selected(expr: str) -> set[str]:
    """The metric names ``expr`` selects."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql.VectorSelector) and node.name:
            names.add(node.name)

    promql.walk(promql.parse(expr), visit)
    return names


def by_labels(chunk: Chunk) -> dict[tuple[tuple[str, str], ...], dict[int, float]]:
    return {
        tuple(sorted((k, v) for k, v in labels.items() if k != "__name__")): values for labels, values in chunk.series
    }


def test_recorded_samples_carry_the_offset_the_schedule_gives_their_group(live: Live) -> None:
    with requests.Session() as session:
        schedule = Schedule(PrometheusHistory(live.url, session).setup().rule_groups)
    for name, group, interval in (("job:alloc:rate5s", live.fast, 1.0), ("clock_read", live.slow, 2.0)):
        answer = requests.get(f"{live.url}/api/v1/query", params={"query": f"{name}[10s]"}, timeout=5).json()
        stamps = {round(float(t) * 1000) % round(interval * 1000) for t, _ in answer["data"]["result"][0]["values"]}
        assert stamps == {schedule.offset_ms(live.rule_file, group, interval)}


@pytest.mark.parametrize("name", RECORDED + RECORDED_SLOW)
@pytest.mark.parametrize("read_recordings", [False, True], ids=["computed", "read where recorded"])
def test_an_inlined_recording_rule_reads_what_prometheus_recorded_at_every_step(
    live: Live, tmp_path: Path, name: str, read_recordings: bool
) -> None:
    readers = tmp_path / "readers.yml"
    readers.write_text(yaml.safe_dump({"groups": [{"name": "reader", "rules": [{"alert": "Reads", "expr": name}]}]}))
    with requests.Session() as session:
        history = PrometheusHistory(live.url, session)
        setup = history.setup()
        schedule = Schedule(setup.rule_groups)
        running = running_recordings(setup.rule_groups, 1.0) if read_recordings else frozenset()
        recording = RecordingRules(
            load_rule_files([live.rule_file], 1.0).recording, schedule.offset_ms, running=running
        )
        (reader,) = load_rule_files([readers], 1.0).alerting
        expanded = recording.expand(reader)
        if read_recordings:
            assert name in selected(expanded)  # where Prometheus recorded it, computed elsewhere
        else:
            assert selected(expanded) <= {"go_memstats_alloc_bytes_total"}  # computed from scraped series only
        offset = schedule.offset_ms(readers, "reader", 1.0) / 1000
        start = math.floor(time.time() - 14) + offset
        inlined = by_labels(history.query_range(expanded, start, 12, 1.0))
        stored = by_labels(history.query_range(name, start, 12, 1.0))
    assert len(stored) == 1
    assert all(len(values) == 12 for values in stored.values())
    assert inlined == {labels: pytest.approx(values, rel=1e-12) for labels, values in stored.items()}


def test_a_rule_reading_a_later_rule_of_its_group_saw_its_previous_evaluation(live: Live) -> None:
    """The order the inlining reproduces is real: what Prometheus recorded is one evaluation behind."""
    with requests.Session() as session:
        history = PrometheusHistory(live.url, session)
        schedule = Schedule(history.setup().rule_groups)
        start = math.floor(time.time() - 14) + schedule.offset_ms(live.rule_file, live.fast, 1.0) / 1000
        (previous,) = by_labels(history.query_range("job:alloc:previous_max3s", start, 12, 1.0)).values()
        (current,) = by_labels(history.query_range("job:alloc:max3s", start, 12, 1.0)).values()
    assert all(previous[k] == current[k - 1] for k in range(1, 12))
    assert any(previous[k] != current[k] for k in range(1, 12))
