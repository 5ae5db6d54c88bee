"""Business queries against real PostgreSQL and FerretDB (MongoDB wire protocol)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pymongo
from prometheus_client import CollectorRegistry

from exporter.queries import MongoBackend, PostgresBackend, QueryRunner, load_queries
from tests import services


def test_sql_queries_become_gauges_and_a_broken_one_goes_stale_without_hurting_the_others(
    postgres_uri: str, tmp_path: Path
) -> None:
    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE portfolio_goals (portfolio_id text, progress float8)")
        conn.execute("INSERT INTO portfolio_goals VALUES ('p1', 1.2), ('p2', 0.4), ('p3', 1.0), ('p4', 0.9)")
    path = tmp_path / "queries.yaml"
    path.write_text(
        "queries:\n"
        "  - name: portfolio_goal_met_ratio\n"
        "    help: Share of portfolios meeting their goal.\n"
        "    database: postgres\n"
        "    sql: SELECT avg((progress >= 1)::int)::float8 AS value FROM portfolio_goals\n"
        "    value: value\n"
        "  - name: slow_query\n"
        "    help: Runs past its timeout.\n"
        "    database: postgres\n"
        "    sql: SELECT 1 AS value FROM pg_sleep(2)\n"
        "    value: value\n"
        "    timeout: 0.2s\n"
    )
    goal, slow = load_queries(path).queries
    backend = PostgresBackend(postgres_uri)
    runner = QueryRunner([goal, slow], {"postgres": backend})
    registry = CollectorRegistry()
    registry.register(runner)
    runner.run_once(goal)
    runner.run_once(slow)
    assert registry.get_sample_value("portfolio_goal_met_ratio") == 0.5
    assert registry.get_sample_value("monitoring_query_errors_total", {"query": "slow_query"}) == 1
    assert registry.get_sample_value("monitoring_query_up", {"query": "slow_query"}) == 0

    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute("ALTER TABLE portfolio_goals RENAME TO goals_moved")
    runner.run_once(goal)
    assert registry.get_sample_value("portfolio_goal_met_ratio") == 0.5
    assert registry.get_sample_value("monitoring_query_stale", {"query": "portfolio_goal_met_ratio"}) == 1
    assert registry.get_sample_value("monitoring_query_errors_total", {"query": "portfolio_goal_met_ratio"}) == 1
    runner.stop()  # closes the connection


def test_an_aggregation_pipeline_gives_assets_under_management_by_class(
    mongo_client: pymongo.MongoClient[dict[str, object]], mongo_database: str, tmp_path: Path
) -> None:
    mongo_client[mongo_database]["assets"].insert_many(
        [
            {"asset_class": "bond", "value": 100.0},
            {"asset_class": "bond", "value": 50.5},
            {"asset_class": "equity", "value": 10.0},
        ]
    )
    path = tmp_path / "queries.yaml"
    path.write_text(
        f"mongodb_database: {mongo_database}\n"
        "queries:\n"
        "  - name: assets_under_management\n"
        "    help: Assets under management by asset class.\n"
        "    database: mongodb\n"
        "    collection: assets\n"
        "    pipeline:\n"
        "      - {$group: {_id: $asset_class, value: {$sum: $value}}}\n"
        "    value: value\n"
        "    labels: {asset_class: _id}\n"
    )
    loaded = load_queries(path)
    backend = MongoBackend(services.mongodb_uri(), loaded.mongodb_database)
    try:
        runner = QueryRunner(loaded.queries, {"mongodb": backend})
        registry = CollectorRegistry()
        registry.register(runner)
        runner.run_once(loaded.queries[0])
    finally:
        backend.close()
    assert registry.get_sample_value("assets_under_management", {"asset_class": "bond"}) == 150.5
    assert registry.get_sample_value("assets_under_management", {"asset_class": "equity"}) == 10.0
