"""The generated dashboards: in sync with the code, valid Grafana dashboard models, well linked."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.__main__ import main as generate
from grafana.catalogue import DASHBOARD_DIR, DASHBOARDS, rendered
from grafana.datasources import JAEGER_UID, POSTGRES_UID, PROMETHEUS_UID, SqlQuery, register_models

REPO = Path(__file__).resolve().parents[3]
PROVISIONING = REPO / "grafana" / "provisioning"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DASHBOARD_DIR / name).read_text())
    return document


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] != "row":
            yield panel


def through_the_model(document: dict[str, Any]) -> tuple[Dashboard, dict[str, Any]]:
    """Load with the SDK's dashboard model and serialise again."""
    register_models()
    model = Dashboard.from_json(document)
    return model, json.loads(json.dumps(model, cls=JSONEncoder))


def test_the_checked_in_dashboards_are_what_the_code_generates() -> None:
    on_disk = {path.name: path.read_text() for path in DASHBOARD_DIR.glob("*.json")}
    assert on_disk == rendered(), "run `python -m grafana` and commit grafana/dashboards/"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_dashboard_loads_through_the_grafana_dashboard_model_without_losing_a_field(name: str) -> None:
    document = load(name)
    model, again = through_the_model(document)
    assert again == document
    for panel in model.panels or []:
        for target in getattr(panel, "targets", None) or []:
            assert isinstance(target, prometheus.Dataquery | SqlQuery), f"{panel.title}: untyped target {target!r}"


def test_a_misspelt_field_is_caught_by_the_model_round_trip() -> None:
    document = load("system-status.json")
    broken = copy.deepcopy(document)
    target = next(panels(broken))["targets"][0]
    target["expresion"] = target.pop("expr")
    assert through_the_model(broken)[1] != broken


def test_a_sql_target_with_an_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="format"):
        SqlQuery.from_json({"refId": "A", "rawSql": "SELECT 1", "format": "timeseries"})


def test_dashboards_have_distinct_uids_titles_and_a_version() -> None:
    boards = [load(name) for name in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    assert len({b["title"] for b in boards}) == len(boards)
    assert all(isinstance(b["version"], int) and b["version"] >= 1 for b in boards)
    assert {b["uid"] for b in boards} == {
        "system-status",
        "event-monitoring",
        "business-insights",
        "alerts",
        "alert-quality",
    }


def provisioned_datasources() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())
    return {ds["uid"]: ds for ds in document["datasources"]}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_queries_a_provisioned_datasource(name: str) -> None:
    board = load(name)
    datasources = provisioned_datasources()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    environment = variables["environment"]
    assert environment["type"] == "datasource"
    assert environment["query"] == datasources[environment["current"]["value"]]["type"] == "prometheus"
    for panel in panels(board):
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            ref = target["datasource"]
            assert ref == panel["datasource"], panel["title"]
            uid = environment["current"]["value"] if ref["uid"] == "${environment}" else ref["uid"]
            assert datasources[uid]["type"] == ref["type"], panel["title"]
        assert [t["refId"] for t in panel["targets"]] == [chr(ord("A") + i) for i in range(len(panel["targets"]))]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_dashboard_has_the_environment_and_service_variables(name: str) -> None:
    variables = {v["name"]: v for v in load(name)["templating"]["list"]}
    service = variables["service"]
    assert service["query"]["query"] == "label_values(up, service)"
    assert service["includeAll"]
    assert service["allValue"] == ".*"
    assert service["multi"]
    assert service["datasource"]["uid"] == "${environment}"


def runbook_pages() -> set[str]:
    """The runbook pages the receiver serves: the alert headings of receiver/web/runbooks.md, in lower case."""
    text = (REPO / "receiver" / "web" / "runbooks.md").read_text()
    return {h.strip().lower() for h in re.findall(r"^## (.+)$", text, re.M)}


def test_every_runbook_link_points_at_a_runbook_page_of_the_receiver() -> None:
    pages = runbook_pages()
    linked = 0
    for name in DASHBOARDS:
        for panel in panels(load(name)):
            for link in panel.get("links", []):
                if link["title"].startswith("Runbook"):
                    base, _, page = link["url"].rpartition("/")
                    assert base == "${runbook_base}/runbooks"
                    assert page in pages, f"{panel['title']}: no runbook {page}"
                    linked += 1
    assert linked >= 20


def test_trace_links_open_jaeger_in_explore_and_latency_panels_carry_exemplars() -> None:
    trace_links = [
        link["url"]
        for name in DASHBOARDS
        for panel in panels(load(name))
        for link in panel.get("links", [])
        if link["title"].startswith("Traces")
    ]
    assert trace_links
    assert all(url.startswith("/explore?left=") and f"%22{JAEGER_UID}%22" in url for url in trace_links)
    exemplar_panels = [
        panel["title"]
        for name in DASHBOARDS
        for panel in panels(load(name))
        if any(t.get("exemplar") for t in panel["targets"])
    ]
    assert len(exemplar_panels) >= 2
    prometheus_ds = provisioned_datasources()[PROMETHEUS_UID]
    assert prometheus_ds["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": JAEGER_UID}
    ]


def test_sql_panels_read_the_postgres_datasource_and_prometheus_panels_the_environment() -> None:
    kinds = {"rawSql": set(), "expr": set()}  # type: dict[str, set[str]]
    for name in DASHBOARDS:
        for panel in panels(load(name)):
            for target in panel["targets"]:
                kinds["rawSql" if "rawSql" in target else "expr"].add(target["datasource"]["uid"])
    assert kinds == {"rawSql": {POSTGRES_UID}, "expr": {"${environment}"}}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_do_not_overlap_on_the_grid(name: str) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load(name)["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_recording_rule_a_panel_reads_is_defined_in_the_shipped_rules() -> None:
    groups = yaml.safe_load((REPO / "prometheus" / "rules" / "recording.yml").read_text())["groups"]
    recorded = {rule["record"] for group in groups for rule in group["rules"]}
    used = {
        name
        for board in DASHBOARDS
        for panel in panels(load(board))
        for target in panel["targets"]
        if "expr" in target
        for name in re.findall(r"(?<![\w:])([a-z_]*:[a-z0-9_]+:[a-z0-9_]+)", target["expr"])
    }
    assert len(used) >= 30
    assert used <= recorded, sorted(used - recorded)


def test_the_generator_writes_the_dashboards_and_its_check_fails_on_a_stale_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate(["--check", "--dir", str(tmp_path)]) == 1
    assert generate(["--dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DASHBOARDS)
    assert generate(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "alerts.json").write_text("{}")
    assert generate(["--check", "--dir", str(tmp_path)]) == 1
    assert "stale dashboards (run `python -m grafana`): alerts.json" in capsys.readouterr().err
