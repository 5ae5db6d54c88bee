from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from monitoring.tracing import is_sampled, parse_traceparent
from simulator.platform import PlatformModel
from simulator.traceparents import SAMPLE_RATIO, traceparent_for


def test_simulated_events_carry_a_deterministic_traceparent_one_trace_per_flow() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    first = list(PlatformModel(seed=3).events(2000, start))
    again = list(PlatformModel(seed=3).events(2000, start))
    assert [e.traceparent for e in first] == [e.traceparent for e in again]

    traces: dict[str, set[int]] = defaultdict(set)
    for event in first:
        context = parse_traceparent(event.traceparent)
        assert context is not None
        assert event.correlationid is not None
        traces[event.correlationid].add(context.trace_id)
    assert all(len(ids) == 1 for ids in traces.values())
    assert any(len([e for e in first if e.correlationid == c]) > 1 for c in traces)  # flows of several events


def test_about_the_sample_ratio_of_flows_is_marked_sampled() -> None:
    flows = [traceparent_for(f"flow-{i}", f"event-{i}") for i in range(20_000)]
    share = sum(is_sampled(t) for t in flows) / len(flows)
    assert SAMPLE_RATIO * 0.8 < share < SAMPLE_RATIO * 1.2
