"""Horizontal scaling that runs here: an Alertmanager HA pair in front of one receiver, and a
Prometheus HA pair remote-writing into the long-term store (VictoriaMetrics, replica de-duplication on)."""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from exporter.http import HttpServer, create_app
from tests import services
from tests.credentials import get_json as get_with_key
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.e2e.receiver.test_alertmanager_to_channels import alertmanager_config, post_alert
from tests.e2e.receiver.test_crash_and_concurrency import slack_alertnames
from tests.processes import ServerProcess, start_prometheus, start_victoriametrics


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


def start_cluster_member(tmp_path: Path, config: str, port: int, cluster: int, peers: list[int]) -> ServerProcess:
    """One member of a cluster with Alertmanager's default gossip timings, as
    docs/operations.md runs a three-node cluster (every member lists the others as peers)."""
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
            *(f"--cluster.peer=127.0.0.1:{peer}" for peer in peers),
            "--log.level=warn",
        ],
        workdir,
    )
    server.wait_ready(f"http://127.0.0.1:{port}/-/ready")
    return server


def create_silence(port: int, alertname: str) -> str:
    now = datetime.now(UTC)
    silence = {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "oncall",
        "comment": "maintenance",
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/silences",
        data=json.dumps(silence).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return str(json.load(response)["silenceID"])


def silences(port: int) -> set[str]:
    body = get_json(f"http://127.0.0.1:{port}/api/v2/silences")
    assert isinstance(body, list)
    return {s["id"] for s in body if s["status"]["state"] == "active"}


def test_a_three_node_alertmanager_cluster_shares_silences_and_keeps_doing_so_with_a_member_down(
    tmp_path: Path,
) -> None:
    config = alertmanager_config("http://127.0.0.1:9", "e2e-webhook-token")  # no alert is sent in this test
    ports = [services.free_port() for _ in range(3)]
    clusters = [services.free_port() for _ in range(3)]
    members = [
        start_cluster_member(tmp_path, config, ports[i], clusters[i], [c for c in clusters if c != clusters[i]])
        for i in range(3)
    ]
    try:
        for port in ports:
            wait_until(
                lambda port=port: len(get_json(f"http://127.0.0.1:{port}/api/v2/status")["cluster"]["peers"]) == 3,  # type: ignore[index]
                what="a three-member cluster",
            )
        first = create_silence(ports[0], "PlannedMaintenance")
        for port in ports:
            wait_until(lambda port=port: first in silences(port), 10, "the silence on every member")
        members[0].stop()  # one member down: the other two still gossip
        second = create_silence(ports[1], "PlannedMigration")
        wait_until(lambda: second in silences(ports[2]), 10, "the second silence on the third member")
        assert silences(ports[2]) == {first, second}
    finally:
        for member in members:
            member.stop()


def query(port: int, promql: str) -> list[dict[str, dict[str, str]]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    body = get_json(url)
    assert isinstance(body, dict)
    result: list[dict[str, dict[str, str]]] = body["data"]["result"]
    return result


def export(store_port: int, selector: str) -> list[dict[str, Any]]:
    """The raw samples of every series matching ``selector``, as VictoriaMetrics stores them
    (``/api/v1/export`` applies -dedup.minScrapeInterval): one JSON document per series."""
    url = f"http://127.0.0.1:{store_port}/api/v1/export?" + urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(url, timeout=5) as response:
        return [json.loads(line) for line in response.read().decode().splitlines() if line]


def replica_config(replica: str, store_port: int, target_port: int) -> str:
    """One member of the HA pair as prometheus/prometheus.yml has it: its own ``replica`` label,
    remote-writing to the long-term store; scraping every second."""
    return f"""
global:
  scrape_interval: 1s
  external_labels: {{monitor: investment-platform, replica: {replica}}}
remote_write:
  - url: http://127.0.0.1:{store_port}/api/v1/write
    queue_config: {{batch_send_deadline: 1s}}
scrape_configs:
  - job_name: exporter
    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]
"""


def samples_scraped(prometheus_port: int, seconds: int) -> float:
    result = query(prometheus_port, f'count_over_time(ha_probe_value{{job="exporter"}}[{seconds}s])')
    values: list[object] = [r["value"][1] for r in result]  # type: ignore[index]
    return sum(float(str(v)) for v in values)


def test_a_prometheus_ha_pair_writing_into_victoriametrics_comes_out_as_one_series_with_both_replicas_samples(
    tmp_path: Path,
) -> None:
    """Replica a alone, then a and b together, then b alone (a stopped): the store holds one series
    without the ``replica`` label, one sample per scrape interval while both write, and no gap
    across the hand-over, so the samples of both replicas are merged."""
    registry = CollectorRegistry()
    Gauge("ha_probe_value", "A value both replicas scrape.", registry=registry).set(7)
    target = HttpServer(create_app(registry, ready=lambda: True), "127.0.0.1", 0)
    target.start()
    binary = services.binary("prometheus", "prometheus")
    store_port, ports = services.free_port(), {"a": services.free_port(), "b": services.free_port()}
    store = start_victoriametrics(
        tmp_path, store_port, "-dedup.minScrapeInterval=1s", "-search.latencyOffset=1s", "-search.disableCache"
    )
    replicas: dict[str, ServerProcess] = {}

    def start(replica: str) -> None:
        workdir = tmp_path / replica
        workdir.mkdir()
        config = replica_config(replica, store_port, target.port)
        replicas[replica] = start_prometheus(binary, config, workdir, ports[replica])

    try:
        start("a")
        wait_until(lambda: export(store_port, "ha_probe_value"), 30, "replica a's samples in the store")
        time.sleep(4)  # a alone
        b_started_ms = time.time() * 1000
        start("b")
        wait_until(lambda: samples_scraped(ports["b"], 10) >= 3, 30, "replica b scraping")
        time.sleep(2)  # b's first batches are in the store
        both_from_ms = time.time() * 1000
        time.sleep(5)  # both write
        both_to_ms = time.time() * 1000
        raw_in_window = samples_scraped(ports["a"], 5) + samples_scraped(ports["b"], 5)
        replicas["a"].stop()  # a fails: b carries on alone
        a_stopped_ms = time.time() * 1000
        time.sleep(5)
        replicas["b"].stop()  # flushes its last batch to the store
        wait_until(
            lambda: max(s for e in export(store_port, "ha_probe_value") for s in e["timestamps"]) > a_stopped_ms + 4000,
            10,
            "b's last samples searchable in the store",
        )
        [[instant]] = [query(store_port, 'ha_probe_value{job="exporter"}')]
        series = export(store_port, 'ha_probe_value{job="exporter"}')
    finally:
        for server in replicas.values():
            server.stop()
        store.stop()
        target.stop()
    assert len(series) == 1, series  # the pair's duplicated series come out once...
    [only] = series
    assert "replica" not in only["metric"]
    assert only["metric"]["monitor"] == "investment-platform"
    assert "replica" not in instant["metric"]
    stamps: list[int] = only["timestamps"]
    assert stamps == sorted(stamps)
    # ...with a's samples from before b started and b's from after a stopped, and no gap between.
    assert stamps[0] < b_started_ms - 2000
    assert stamps[-1] > a_stopped_ms + 3000
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert max(gaps) <= 2500, max(gaps)
    # While both wrote (about two raw samples a second), the store keeps one per 1 s interval.
    kept = sum(both_from_ms <= s <= both_to_ms for s in stamps)
    assert raw_in_window >= 8
    assert kept <= (both_to_ms - both_from_ms) / 1000 + 1, (kept, raw_in_window)
