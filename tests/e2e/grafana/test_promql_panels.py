"""Every PromQL query of every dashboard returns data from a real Prometheus fed by the pipeline.

The whole pipeline runs (tests/e2e/pipeline/harness.py: simulator → Kafka → exporter →
Prometheus → Alertmanager → receiver, fake platform services, plus a node-exporter), with a
simulator scenario whose faults feed the failure, dead-letter, duplicate and consistency
panels, a fake-services timeline with 5xx and a service that goes down (health transitions,
ServiceDown firing), and a Slack sink that answers 500 (notification failures).

The pipeline's Prometheus remote-writes into a VictoriaMetrics (the long-term store, as
prometheus/prometheus.yml ships it), and every query must return data from both: Grafana's
datasource may point at either.

Grafana's variables and macros are replaced the way Grafana would with these choices:
``$service`` by its All value ``.*``, ``${environment}`` is the store the query is sent
to, ``$__rate_interval`` by ``10s`` (the e2e Prometheus scrapes every second) and
``$__range`` by ``10m``. Each query is an instant query; it passes once it has returned at
least one series during the run.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from grafana.catalogue import DASHBOARD_DIR, DASHBOARDS
from tests import services
from tests.e2e.pipeline.harness import Pipeline, get_json
from tests.processes import ServerProcess, start_victoriametrics

SUBSTITUTIONS = {"$__rate_interval": "10s", "$__range": "10m", "$service": ".*"}
TIMEOUT = 150.0

SIMULATOR_SCENARIO = """\
name: grafana-panels
seed: 7
duration: 900s
profile: {rate: 40, success_ratio: 0.9, rebalance_ratio: 0.3, followup_delay: 100ms}
phases:
  - at: 0s
    name: faulty
    faults:
      duplicate: 0.03
      out_of_order: 0.03
      version_gap: 0.03
      drop_followup: 0.1
      malformed: 0.03
      malformed_kinds: [invalid_json, missing_attribute, wrong_type]
"""

FAKE_SERVICES = """\
name: grafana-services
seed: 5
duration: 900s
profile: {rate: 10}
phases:
  - {at: 0s, name: errors, http_error_ratio: 0.05}
  - {at: 10s, name: asset-down, health: down, services: [asset-service]}
  - {at: 40s, name: errors-again, http_error_ratio: 0.05}
"""


@dataclass
class WithNodeExporter(Pipeline):
    """The pipeline with a node-exporter scraped as the shipped `node` job."""

    node_port: int = 0
    store_port: int = 0  # the VictoriaMetrics Prometheus remote-writes to

    @property
    def store_url(self) -> str:
        return f"http://127.0.0.1:{self.store_port}"

    def rewrite_addresses(self, prometheus: dict[str, Any], config_dir: Path) -> dict[str, Any]:
        rewritten = super().rewrite_addresses(prometheus, config_dir)
        node = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "node")
        node_job = {
            **node,
            "static_configs": [{**c, "targets": [f"127.0.0.1:{self.node_port}"]} for c in node["static_configs"]],
        }
        return {**rewritten, "scrape_configs": [*rewritten["scrape_configs"], node_job]}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WithNodeExporter]:
    workdir = tmp_path_factory.mktemp("grafana-panels")
    port = services.free_port()
    node = ServerProcess(
        "node-exporter",
        [
            services.binary("prometheus-node-exporter", "prometheus-node-exporter"),
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir,
    )
    store_port = services.free_port()
    store = start_victoriametrics(workdir, store_port, "-dedup.minScrapeInterval=1s")
    try:
        node.wait_ready(f"http://127.0.0.1:{port}/metrics")
        with WithNodeExporter.running(
            workdir,
            FAKE_SERVICES,
            simulator_scenario=SIMULATOR_SCENARIO,
            node_port=port,
            store_port=store_port,
            remote_write_url=f"http://127.0.0.1:{store_port}/api/v1/write",
        ) as running:
            running.sinks["slack"].status = 500  # every Slack attempt fails: notification failures
            yield running
    finally:
        node.stop()
        store.stop()


def promql_queries() -> dict[str, str]:
    """``dashboard / panel / refId`` -> the query with variables and macros substituted."""
    out = {}
    for name in DASHBOARDS:
        board = json.loads((DASHBOARD_DIR / name).read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    expr = target["expr"]
                    for variable, value in SUBSTITUTIONS.items():
                        expr = expr.replace(variable, value)
                    out[f"{board['uid']} / {panel['title']} / {target['refId']}"] = expr
    return out


def series(base_url: str, expr: str) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr})
    document = get_json(f"{base_url}/api/v1/query?{query}")
    assert document["status"] == "success", document
    return list(document["data"]["result"])


@pytest.mark.parametrize("store", ["prometheus", "victoriametrics"])
def test_every_promql_panel_query_returns_data_from_the_fed_store(pipeline: WithNodeExporter, store: str) -> None:
    base_url = pipeline.prometheus_url if store == "prometheus" else pipeline.store_url
    queries = promql_queries()
    assert len(queries) > 60
    waiting = dict(queries)
    deadline = time.monotonic() + TIMEOUT
    while waiting and time.monotonic() < deadline:
        for key, expr in list(waiting.items()):
            if series(base_url, expr):
                del waiting[key]
        time.sleep(1)
    assert not waiting, "no data for:\n" + "\n".join(f"{k}: {v}" for k, v in waiting.items()) + pipeline.diagnostics()


@pytest.mark.parametrize("store", ["prometheus", "victoriametrics"])
def test_the_service_variable_lists_the_platform_and_monitoring_services(
    pipeline: WithNodeExporter, store: str
) -> None:
    base_url = pipeline.prometheus_url if store == "prometheus" else pipeline.store_url
    query = urllib.parse.urlencode({"match[]": "up"})
    values = set(get_json(f"{base_url}/api/v1/label/service/values?{query}")["data"])
    assert {"asset-service", "portfolio-service", "transaction-service", "monitoring-exporter"} <= values
