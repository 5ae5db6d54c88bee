"""Horizontal scaling that runs here: an Alertmanager HA pair in front of one receiver, and a
Prometheus HA pair remote-writing into a long-term store (a Prometheus remote-write receiver)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge

from exporter.http import HttpServer, create_app
from tests import services
from tests.credentials import get_json as get_with_key
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.e2e.receiver.test_alertmanager_to_channels import alertmanager_config, post_alert
from tests.e2e.receiver.test_crash_and_concurrency import slack_alertnames
from tests.processes import ServerProcess, start_prometheus


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.load(response)


@pytest.fixture
def receiver(postgres_uri: str, sinks: Sinks, tmp_path: Path) -> Iterator[ReceiverProcess]:
    env = receiver_env(postgres_uri, sinks, tmp_path)
    process = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    yield process
    process.stop()


def start_clustered_alertmanager(tmp_path: Path, config: str, port: int, cluster: int, peer: int) -> ServerProcess:
    """One member of a clustered pair. Gossip runs every 30s, so the members do not learn of each
    other's notifications in time and both send: the doubled webhooks of a lagging or split cluster."""
    workdir = tmp_path / f"am-{port}"
    workdir.mkdir()
    (workdir / "alertmanager.yml").write_text(config)
    server = ServerProcess(
        f"alertmanager-{port}",
        [
            services.binary("prometheus-alertmanager", "prometheus-alertmanager"),
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{cluster}",
            f"--cluster.advertise-address=127.0.0.1:{cluster}",
            f"--cluster.peer=127.0.0.1:{peer}",
            "--cluster.peer-timeout=200ms",
            "--cluster.gossip-interval=30s",
            "--cluster.probe-interval=30s",
            "--cluster.pushpull-interval=5m",
            "--cluster.settle-timeout=1s",
            "--log.level=warn",
        ],
        workdir,
    )
    server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
    return server


def test_an_alertmanager_ha_pair_doubles_webhooks_and_the_receiver_pages_once_per_alert(
    receiver: ReceiverProcess, sinks: Sinks, tmp_path: Path
) -> None:
    config = alertmanager_config(receiver.url, "e2e-webhook-token").replace(
        "repeat_interval: 2s", "repeat_interval: 1h"
    )
    ports, clusters = [services.free_port(), services.free_port()], [services.free_port(), services.free_port()]
    pair = [
        start_clustered_alertmanager(tmp_path, config, ports[0], clusters[0], clusters[1]),
        start_clustered_alertmanager(tmp_path, config, ports[1], clusters[1], clusters[0]),
    ]
    try:
        for port in ports:
            wait_until(
                lambda port=port: len(get_json(f"http://127.0.0.1:{port}/api/v2/status")["cluster"]["peers"]) == 2,  # type: ignore[index]
                what="a two-member cluster",
            )
        started = datetime.now(UTC) - timedelta(seconds=5)
        names = [f"HaPair{i}" for i in range(3)]
        for name in names:
            for port in ports:  # Prometheus sends every alert to every Alertmanager
                post_alert(port, {"alertname": name, "priority": "medium", "service": "asset"}, started)
        wait_until(
            lambda: receiver.metric("receiver_webhooks_received_total") >= 2 * len(names), 30, "webhooks from both"
        )
        wait_until(lambda: sum(slack_alertnames(sinks).values()) >= len(names), 30, "the notifications")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, what="an empty outbox")
    finally:
        for server in pair:
            server.proc.kill()  # leaving the cluster politely waits on the slow gossip
            server.stop()
    assert slack_alertnames(sinks) == {name: 1 for name in names}
    alerts = get_with_key(f"{receiver.url}/api/v1/alerts", receiver.api_key)["alerts"]
    assert sorted(a["alertname"] for a in alerts) == names


def query(port: int, promql: str) -> list[dict[str, dict[str, str]]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    body = get_json(url)
    assert isinstance(body, dict)
    result: list[dict[str, dict[str, str]]] = body["data"]["result"]
    return result


def test_a_prometheus_ha_pair_remote_writes_both_replicas_into_the_long_term_store(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Gauge("ha_probe_value", "A value both replicas scrape.", registry=registry).set(7)
    target = HttpServer(create_app(registry, ready=lambda: True), "127.0.0.1", 0)
    target.start()
    binary = services.binary("prometheus", "prometheus")
    servers: list[ServerProcess] = []
    try:
        store_port = services.free_port()
        store_dir = tmp_path / "store"
        store_dir.mkdir()
        servers.append(
            start_prometheus(
                binary, "global: {scrape_interval: 1m}\n", store_dir, store_port, "--web.enable-remote-write-receiver"
            )
        )
        for replica in ("a", "b"):
            workdir = tmp_path / replica
            workdir.mkdir()
            config = f"""
global:
  scrape_interval: 1s
  external_labels: {{monitor: investment-platform, replica: {replica}}}
remote_write:
  - url: http://127.0.0.1:{store_port}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
scrape_configs:
  - job_name: exporter
    static_configs: [{{targets: ['127.0.0.1:{target.port}']}}]
"""
            servers.append(start_prometheus(binary, config, workdir, services.free_port()))
        deadline = time.monotonic() + 60
        series: list[dict[str, dict[str, str]]] = []
        while time.monotonic() < deadline and len(series) < 2:
            series = query(store_port, 'ha_probe_value{job="exporter"}')
            time.sleep(0.5)
        assert sorted(s["metric"]["replica"] for s in series) == ["a", "b"], servers[-1].log_tail()
        # What a long-term store does to deduplicate: drop the replica label and keep one sample per series.
        [merged] = query(store_port, 'max without (replica) (ha_probe_value{job="exporter"})')
        assert merged["value"][1] == "7"  # type: ignore[index]
    finally:
        for server in reversed(servers):  # the replicas first: they flush to the store on the way out
            server.stop()
        target.stop()
