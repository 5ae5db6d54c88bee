"""Panel and dashboard constructors shared by the dashboards.

Every dashboard gets the same variables: ``environment`` (which Prometheus: one per
environment), ``service`` (the ``service`` target/health-check label) and ``runbook_base``
(the alert receiver's public URL: it serves the runbooks at ``<base>/runbooks/<alert>``).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from typing import TypeAlias

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions, StackingConfig, VizLegendOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    FieldTextAlignment,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from grafana.datasources import (
    ENVIRONMENT_VARIABLE,
    JAEGER_TYPE,
    JAEGER_UID,
    PROMETHEUS,
    PROMETHEUS_TYPE,
    PROMETHEUS_UID,
    Sql,
)

PanelBuilder: TypeAlias = timeseries.Panel | stat.Panel | table.Panel
Target: TypeAlias = prometheus.Dataquery | Sql

TAG = "investment-platform"
RUNBOOK = "${runbook_base}/runbooks"
DEFAULT_RUNBOOK_BASE = "http://127.0.0.1:8080"  # the receiver's default address, as in prometheus/prometheus.yml


def prom(expr: str, legend: str = "", *, exemplar: bool = False, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).datasource(PROMETHEUS).legend_format(legend or "__auto")
    if exemplar:
        query = query.exemplar(True)
    return query.instant().format(PromQueryFormat.TABLE) if instant else query.range()


def _targets(panel: PanelBuilder, targets: Sequence[Target]) -> PanelBuilder:
    """Targets get refIds A, B, ...; the panel takes the first target's datasource."""
    for index, target in enumerate(targets):
        target.ref_id(chr(ord("A") + index))
    first = targets[0].build().datasource
    assert first is not None
    return panel.targets(list(targets)).datasource(first)


def runbook(anchor: str, title: str) -> dashboard.DashboardLink:
    return dashboard.DashboardLink(f"Runbook: {title}").url(f"{RUNBOOK}/{anchor}").target_blank(True)


def traces(service: str) -> dashboard.DashboardLink:
    """Grafana Explore on the Jaeger datasource, searching ``service``'s traces in the panel's time range."""
    pane = {
        "datasource": JAEGER_UID,
        "queries": [
            {
                "refId": "A",
                "datasource": {"type": JAEGER_TYPE, "uid": JAEGER_UID},
                "queryType": "search",
                "service": service,
            }
        ],
        "range": {"from": "${__from}", "to": "${__to}"},
    }
    encoded = urllib.parse.quote(json.dumps(pane, separators=(",", ":")), safe="${}")
    return dashboard.DashboardLink(f"Traces: {service}").url(f"/explore?left={encoded}").target_blank(True)


def _with_links(panel: PanelBuilder, links: Sequence[dashboard.DashboardLink]) -> PanelBuilder:
    return panel.links(list(links)) if links else panel


def graph(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    links: Sequence[dashboard.DashboardLink] = (),
    width: int = 12,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(_legend())
        .fill_opacity(30 if stacked else 10)
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(StackingMode.NORMAL))
    result = _with_links(_targets(panel, targets), links)
    assert isinstance(result, timeseries.Panel)
    return result


def _legend() -> VizLegendOptions:
    return (
        VizLegendOptions()
        .display_mode(LegendDisplayMode.TABLE)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )


def single(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    links: Sequence[dashboard.DashboardLink] = (),
    width: int = 6,
    thresholds: Sequence[tuple[float | None, str]] = (),
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(5)
        .graph_mode(BigValueGraphMode.AREA)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if thresholds:
        steps = [model.Threshold(value=value, color=color) for value, color in thresholds]
        panel = panel.thresholds(dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
    result = _with_links(_targets(panel, targets), links)
    assert isinstance(result, stat.Panel)
    return result


def grid(
    title: str,
    description: str,
    targets: Sequence[Target],
    *,
    unit: str = "none",
    links: Sequence[dashboard.DashboardLink] = (),
    width: int = 12,
) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(8)
        .align(FieldTextAlignment.AUTO)
        .inspect(False)
        .filterable(True)
    )
    result = _with_links(_targets(panel, targets), links)
    assert isinstance(result, table.Panel)
    return result


def variables() -> list[cogbuilder.Builder[model.VariableModel]]:
    environment = (
        dashboard.DatasourceVariable(ENVIRONMENT_VARIABLE)
        .label("Environment")
        .description("The Prometheus of the environment to show (one Prometheus per environment)")
        .type(PROMETHEUS_TYPE)
        .current(model.VariableOption(selected=True, text="Prometheus", value=PROMETHEUS_UID))
    )
    service = (
        dashboard.QueryVariable("service")
        .label("Service")
        .description("The `service` label: scrape targets and health-checked platform services")
        .datasource(PROMETHEUS)
        .query(
            {"qryType": 1, "query": "label_values(up, service)", "refId": "PrometheusVariableQueryEditor-VariableQuery"}
        )
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )
    runbook_base = (
        dashboard.TextBoxVariable("runbook_base")
        .label("Runbook base URL")
        .description(
            "The alert receiver's public URL (RECEIVER_EXTERNAL_URL); runbook links go to <base>/runbooks/<alert>"
        )
        .default_value(DEFAULT_RUNBOOK_BASE)
        .hide(model.VariableHide.HIDE_VARIABLE)
    )
    return [environment, service, runbook_base]


def build(
    uid: str,
    title: str,
    description: str,
    version: int,
    sections: Sequence[tuple[str, Sequence[PanelBuilder]]],
    *,
    extra_variables: Sequence[cogbuilder.Builder[model.VariableModel]] = (),
) -> model.Dashboard:
    """A dashboard of rows; panel ids are assigned in order, so the JSON is stable. ``extra_variables``
    come after the shared ones."""
    board = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .version(version)
        .tags([TAG])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .variables([*variables(), *extra_variables])
        .link(
            dashboard.DashboardLink("Dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    next_id = 1
    for row_title, panels in sections:
        board = board.with_row(dashboard.Row(row_title).id(next_id))
        next_id += 1
        for panel in panels:
            board = board.with_panel(panel.id(next_id))
            next_id += 1
    return board.build()
