"""Business insights: asset operations, portfolio performance, transaction success, goals.

Live panels read Prometheus (recording rules of the ``business`` group). The weekly and
daily trends read the exporter's metric snapshots in PostgreSQL (exporter/snapshots.py):
counters are cumulative, so a day's volume is ``max - min`` of the day's samples, taken
from ``metric_rollups_daily`` for rolled-up days and from the raw ``metric_snapshots``
partitions for the others. An exporter restart inside a day undercounts that day.
"""

# ruff: noqa: S608 - the SQL here is Grafana panel text built from constants; Python never runs it

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.datasources import Sql
from grafana.panels import PanelBuilder, build, graph, grid, prom, runbook, single

UID = "business-insights"
VERSION = 1


def _daily(series_pattern: str) -> str:
    """Daily increase of the cumulative series matching ``series_pattern`` (a POSIX regex)."""
    return f"""SELECT day, series, max - min AS delta FROM metric_rollups_daily
  WHERE series ~ '{series_pattern}' AND day BETWEEN $__timeFrom()::date AND $__timeTo()::date
UNION ALL
SELECT collected_at::date AS day, series, max(value) - min(value) AS delta FROM metric_snapshots
  WHERE series ~ '{series_pattern}' AND $__timeFilter(collected_at)
    AND collected_at::date NOT IN (SELECT day FROM metric_rollups_daily)
  GROUP BY 1, 2"""


FINISHED = r'^transactions_total\{.*status="(completed|failed)"'
COMPLETED = r'^transactions_total\{.*status="completed"'
ACHIEVED = r"^portfolio_goals_achieved_total$"
PROGRESS = r"^portfolio_goal_progress_ratio_count$"

WEEKLY_VOLUME = f"""WITH daily AS (
{_daily(FINISHED)}
)
SELECT date_trunc('week', day)::timestamptz AS time, sum(delta) AS "finished transactions"
FROM daily GROUP BY 1 ORDER BY 1"""

DAILY_SUCCESS = f"""WITH finished AS (
{_daily(FINISHED)}
), completed AS (
{_daily(COMPLETED)}
)
SELECT f.day::timestamptz AS time,
       coalesce((SELECT sum(c.delta) FROM completed c WHERE c.day = f.day), 0) / nullif(sum(f.delta), 0)
         AS "transaction success rate"
FROM finished f GROUP BY f.day ORDER BY 1"""

GOAL_TREND = f"""WITH achieved AS (
{_daily(ACHIEVED)}
), progress AS (
{_daily(PROGRESS)}
)
SELECT p.day::timestamptz AS time,
       coalesce((SELECT sum(a.delta) FROM achieved a WHERE a.day = p.day), 0) / nullif(sum(p.delta), 0)
         AS "goal achievement rate"
FROM progress p GROUP BY p.day ORDER BY 1"""


def dashboard() -> Dashboard:
    assets: list[PanelBuilder] = [
        graph(
            "Assets created per hour",
            "AssetCreated per asset class (asset_class:asset_created:rate1h, per hour).",
            [prom("asset_class:asset_created:rate1h * 3600", "{{asset_class}}")],
            "short",
            width=8,
            stacked=True,
        ),
        graph(
            "Assets modified per hour",
            "AssetModified per asset class.",
            [prom("asset_class:asset_modified:rate1h * 3600", "{{asset_class}}")],
            "short",
            width=8,
            stacked=True,
        ),
        graph(
            "Median valuation change",
            "Median relative valuation change per asset class over 1h.",
            [prom("asset_class:asset_valuation_change_ratio:p50_1h", "{{asset_class}}")],
            "percentunit",
            width=8,
        ),
    ]
    portfolios: list[PanelBuilder] = [
        graph(
            "Median portfolio return",
            "Median return ratio per reporting period over 1h.",
            [prom("period:portfolio_return_ratio:p50_1h", "{{period}}")],
            "percentunit",
        ),
        graph(
            "Rebalances per hour",
            "PortfolioRebalanced events per hour.",
            [prom(":portfolio_rebalances:rate1h * 3600", "rebalances")],
            "short",
        ),
    ]
    transactions: list[PanelBuilder] = [
        single(
            "Transaction success rate",
            "Completed over finished transactions (5m).",
            [prom(":transactions_success:ratio_rate5m", "success rate")],
            "percentunit",
            links=[runbook("transactionsuccessratedrop", "TransactionSuccessRateDrop")],
            thresholds=[(None, "red"), (0.95, "orange"), (0.99, "green")],
        ),
        graph(
            "Transaction success rate",
            "Completed over finished transactions (:transactions_success:ratio_rate5m).",
            [prom(":transactions_success:ratio_rate5m", "success rate")],
            "percentunit",
            links=[runbook("transactionsuccessratedrop", "TransactionSuccessRateDrop")],
            width=18,
        ),
        graph(
            "Transactions per second by type",
            "Finished transactions per type (type:transactions:rate5m).",
            [prom("type:transactions:rate5m", "{{type}}")],
            "ops",
            links=[runbook("performanceanomaly", "PerformanceAnomaly")],
            width=8,
            stacked=True,
        ),
        graph(
            "Money moved per second",
            "Sum of completed transaction amounts per type and currency (major units per second).",
            [prom("type_currency:transaction_amount:rate5m", "{{type}} {{currency}}")],
            "short",
            width=8,
        ),
        graph(
            "Transaction processing p95",
            "Platform-reported processing time per type.",
            [prom("type:transaction_processing_seconds:p95_5m", "{{type}}")],
            "s",
            width=8,
        ),
        graph(
            "Weekly transaction volume",
            "Finished transactions per week, from the metric snapshots in PostgreSQL.",
            [Sql(WEEKLY_VOLUME, time_series=True)],
            "short",
        ),
        graph(
            "Daily transaction success rate",
            "Completed over finished transactions per day, from the metric snapshots.",
            [Sql(DAILY_SUCCESS, time_series=True)],
            "percentunit",
            links=[runbook("transactionsuccessratedrop", "TransactionSuccessRateDrop")],
        ),
    ]
    goals: list[PanelBuilder] = [
        single(
            "Goal achievement rate",
            "Goal progress updates that reached their goal, over all progress updates (1h).",
            [
                prom(
                    "sum(rate(portfolio_goals_achieved_total[1h]))"
                    " / sum(rate(portfolio_goal_progress_ratio_count[1h]))",
                    "achievement rate",
                )
            ],
            "percentunit",
        ),
        graph(
            "Goals achieved per hour and average progress",
            "Goals achieved per hour (:portfolio_goals_achieved:rate1h) and mean goal progress.",
            [
                prom(":portfolio_goals_achieved:rate1h * 3600", "achieved per hour"),
                prom(":portfolio_goal_progress_ratio:avg1h", "average progress"),
            ],
            "short",
            width=18,
        ),
        graph(
            "Daily goal achievement rate",
            "Goals achieved over goal progress updates per day, from the metric snapshots.",
            [Sql(GOAL_TREND, time_series=True)],
            "percentunit",
        ),
        grid(
            "Snapshot series (last day)",
            "The business series the exporter snapshots, with their last value.",
            [
                Sql(
                    """SELECT series, max(collected_at) AS "last snapshot",
       (array_agg(value ORDER BY collected_at DESC))[1] AS value
FROM metric_snapshots WHERE $__timeFilter(collected_at) AND series ~ '^(asset_|portfolio_|transaction)'
GROUP BY series ORDER BY series LIMIT 200"""
                )
            ],
        ),
    ]
    return build(
        UID,
        "Business insights",
        "Asset operations, portfolio performance, transaction success and goal achievement.",
        VERSION,
        [
            ("Asset operations", assets),
            ("Portfolio performance", portfolios),
            ("Transactions", transactions),
            ("Goals", goals),
        ],
    )
