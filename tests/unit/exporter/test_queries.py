"""Business queries: scheduling aside, results become gauges and failures keep the last value, marked stale."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.queries import QueryFailed, QueryRunner, QuerySpec, load_queries
from monitoring.settings import ConfigError


class ScriptedBackend:
    """Answers each run with the next scripted rows, or raises the scripted failure."""

    def __init__(self, *answers: list[Mapping[str, object]] | QueryFailed) -> None:
        self.answers = list(answers)

    def rows(self, query: QuerySpec) -> list[Mapping[str, object]]:
        answer = self.answers.pop(0)
        if isinstance(answer, QueryFailed):
            raise answer
        return answer

    def close(self) -> None:
        return None


AUM = QuerySpec(name="assets_under_management", help="AUM.", database="postgres", sql="x", value="v", labels=["cls"])


def test_rows_become_a_gauge_and_a_failure_keeps_the_last_value_marked_stale() -> None:
    backend = ScriptedBackend(
        [{"cls": "bond", "v": 10.5}, {"cls": "equity", "v": 3}],
        QueryFailed("connection refused"),
        [{"cls": "bond", "v": 11.0}],
    )
    runner = QueryRunner([AUM], {"postgres": backend})
    registry = CollectorRegistry()
    registry.register(runner)
    assert registry.get_sample_value("assets_under_management", {"cls": "bond"}) is None

    runner.run_once(AUM)
    assert registry.get_sample_value("assets_under_management", {"cls": "bond"}) == 10.5
    assert registry.get_sample_value("assets_under_management", {"cls": "equity"}) == 3.0
    assert registry.get_sample_value("monitoring_query_up", {"query": AUM.name}) == 1.0

    runner.run_once(AUM)
    assert registry.get_sample_value("assets_under_management", {"cls": "bond"}) == 10.5
    assert registry.get_sample_value("monitoring_query_stale", {"query": AUM.name}) == 1.0
    assert registry.get_sample_value("monitoring_query_up", {"query": AUM.name}) == 0.0
    assert registry.get_sample_value("monitoring_query_errors_total", {"query": AUM.name}) == 1.0
    assert b"assets_under_management" in generate_latest(registry)

    runner.run_once(AUM)
    assert registry.get_sample_value("assets_under_management", {"cls": "equity"}) is None
    assert registry.get_sample_value("monitoring_query_stale", {"query": AUM.name}) == 0.0


def test_a_row_without_the_value_column_is_a_failed_run() -> None:
    runner = QueryRunner([AUM], {"postgres": ScriptedBackend([{"cls": "bond", "amount": 1}])})
    registry = CollectorRegistry()
    registry.register(runner)
    runner.run_once(AUM)
    assert registry.get_sample_value("monitoring_query_errors_total", {"query": AUM.name}) == 1.0


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{name: 'bad name', help: h, database: postgres, sql: x, value: v}", "not a valid Prometheus metric name"),
        ("{name: q, help: h, database: postgres, value: v}", "needs sql"),
        ("{name: q, help: h, database: mongodb, collection: c, value: v}", "needs collection and pipeline"),
        ("{name: q, help: h, database: postgres, sql: x, value: v, interval: often}", "interval"),
    ],
)
def test_a_bad_query_fails_at_start_naming_the_file_and_query(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "queries.yaml"
    path.write_text(f"queries:\n  - {entry}\n")
    with pytest.raises(ConfigError, match=problem):
        load_queries(path)
