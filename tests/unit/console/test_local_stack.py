"""`monitoring run`'s pure parts: the tools check, the demo overlay, the notification tail."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
import yaml

from monitoring.settings import Settings
from ops.local.configuration import (
    DEMO_SPEED,
    REPO,
    Layout,
    Ports,
    incident_settings,
    prometheus_argv,
    routing_document,
    write_demo_config,
)
from ops.local.host import check_ports, ensure_tools
from ops.local.stack import NotificationTail
from ops.local.supervision import StackFailed
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.config.topology import Topology

ALL = {"prometheus": "/usr/bin/prometheus", "prometheus-alertmanager": "/usr/bin/am"}


def test_missing_packages_without_root_say_exactly_how_to_install_them() -> None:
    installs: list[int] = []

    def install() -> int:
        installs.append(1)
        return 0

    with pytest.raises(StackFailed) as failure:
        ensure_tools(ALL.get, can_install=False, install=install)
    assert "sudo apt-get install prometheus-node-exporter" in str(failure.value)
    assert installs == []


def test_missing_packages_are_installed_when_running_as_root_with_apt() -> None:
    installed: dict[str, str] = dict(ALL)

    def install() -> int:
        installed["prometheus-node-exporter"] = "/usr/bin/prometheus-node-exporter"
        return 0

    tools = ensure_tools(installed.get, can_install=True, install=install)
    assert tools["prometheus-node-exporter"] == "/usr/bin/prometheus-node-exporter"


def test_the_local_routing_sends_every_priority_and_escalation_to_the_file_channel() -> None:
    policy = RoutingPolicy.from_mapping(routing_document())
    assert policy.fallback == "file"
    for priority in policy.priorities.values():
        assert "file" in priority.channels
        assert "file" in priority.escalation
    assert policy.priorities[next(iter(policy.priorities))].ack_deadline == 300.0  # deadlines as shipped


def test_the_demo_pages_per_incident_on_the_shipped_topology_with_its_windows_at_demo_speed() -> None:
    env = incident_settings(DEMO_SPEED, ReceiverConfig.from_environ({}))
    config = ReceiverConfig.from_environ(env)
    assert config.topology_file == REPO / "topology" / "platform.yaml"
    Topology.from_file(config.topology_file)
    shipped = ReceiverConfig.from_environ({})
    assert config.incident_window == shipped.incident_window / DEMO_SPEED.speedup
    assert config.incident_cooldown == shipped.incident_cooldown / DEMO_SPEED.speedup
    assert config.incident_hold == shipped.incident_hold
    moved = incident_settings(DEMO_SPEED, ReceiverConfig.from_environ({"RECEIVER_INCIDENT_COOLDOWN": "20m"}))
    assert moved["RECEIVER_INCIDENT_COOLDOWN"] == "120s"


def test_the_demo_overlay_points_every_job_at_the_run_ports_and_keeps_thresholds(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "run")
    layout.prepare()
    platform = {"asset-service": 1001, "portfolio-service": 1002, "transaction-service": 1003}
    ports = Ports(
        receiver=2001, exporter=2002, prometheus=2003, alertmanager=2004, node_exporter=2005, platform=platform
    )
    prometheus_path, alertmanager_path = write_demo_config(layout, ports, "t0ken")
    prometheus = yaml.safe_load(prometheus_path.read_text())
    targets = {
        job["job_name"]: job.get("static_configs", [{}])[0].get("targets") for job in prometheus["scrape_configs"]
    }
    assert targets["node"] == ["127.0.0.1:2005"]
    assert targets["exporter"] == ["127.0.0.1:2002"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:2004"]
    assert prometheus["global"]["scrape_interval"] == f"{DEMO_SPEED.scrape_interval_seconds}s"
    # the rules' runbook links go to this run's receiver; the shipped external labels stay
    assert prometheus["global"]["external_labels"] == {
        "monitor": "investment-platform",
        "replica": "prometheus-0",
        "runbook_base": "http://127.0.0.1:2001",
    }
    assert "--web.external-url=http://127.0.0.1:2003" in prometheus_argv(
        "prometheus", prometheus_path, tmp_path, 2003, Settings()
    )
    sd = yaml.safe_load((layout.prometheus / "targets" / "platform.yml").read_text())
    assert {t["labels"]["service"]: t["targets"] for t in sd}["transaction-service"] == ["127.0.0.1:1003"]
    rules = yaml.safe_load((layout.prometheus / "rules" / "alerts.yml").read_text())
    shipped = yaml.safe_load((REPO / "prometheus" / "rules" / "alerts.yml").read_text())
    service_down = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ServiceDown"]
    shipped_down = [r for g in shipped["groups"] for r in g["rules"] if r.get("alert") == "ServiceDown"]
    assert service_down[0]["expr"] == shipped_down[0]["expr"]
    assert service_down[0]["for"] == "2s"  # 15s / 10
    alertmanager = yaml.safe_load(alertmanager_path.read_text())
    webhook = alertmanager["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == "http://127.0.0.1:2001/api/v1/alerts/alertmanager"
    assert Path(webhook["http_config"]["authorization"]["credentials_file"]).read_text() == "t0ken"


def test_a_second_run_starts_from_fresh_generated_files_but_keeps_the_stores(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.prepare()
    layout.notifications.write_text("old\n")
    (layout.logs / "receiver.log").write_text("old")
    (tmp_path / "alerts.sqlite3").write_text("kept")
    layout.prepare()
    assert not layout.notifications.exists()
    assert list(layout.logs.iterdir()) == []
    assert (tmp_path / "alerts.sqlite3").read_text() == "kept"


def test_the_tail_prints_each_complete_notification_once(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    out = io.StringIO()
    tail = NotificationTail(path, out)
    assert tail.poll() == 0  # no file yet
    line = json.dumps({"title": "[CRITICAL] FIRING: ServiceDown", "alert": {"id": 3}})
    path.write_text(line + "\n" + line[:10])  # the second line is still being written
    assert tail.poll() == 1
    with path.open("a") as f:
        f.write(line[10:] + "\nnot json\n")
    assert tail.poll() == 2
    assert out.getvalue().splitlines() == [
        "notification: [CRITICAL] FIRING: ServiceDown (alert 3)",
        "notification: [CRITICAL] FIRING: ServiceDown (alert 3)",
        "notification (unreadable line): b'not json'",
    ]


def test_the_tail_prints_a_notifications_acknowledge_runbook_and_console_links(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    out = io.StringIO()
    links = {
        "acknowledge": "http://127.0.0.1:8080/console/ack/t0k",
        "runbook": "http://127.0.0.1:8080/runbooks/servicedown",
        "dashboard": None,
        "graph": "http://127.0.0.1:9090/graph?g0.expr=up",
        "console": "http://127.0.0.1:8080/console/alerts/3",
    }
    path.write_text(json.dumps({"title": "[CRITICAL] FIRING: ServiceDown", "alert": {"id": 3}, "links": links}) + "\n")
    assert NotificationTail(path, out).poll() == 1
    assert out.getvalue().splitlines() == [
        "notification: [CRITICAL] FIRING: ServiceDown (alert 3)",
        "  acknowledge  http://127.0.0.1:8080/console/ack/t0k",
        "  runbook      http://127.0.0.1:8080/runbooks/servicedown",
        "  console      http://127.0.0.1:8080/console/alerts/3",
    ]


def test_a_port_in_use_is_named_with_how_to_free_it() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(StackFailed) as failure:
            check_ports({"prometheus": port, "platform": 0})
    assert f"ports already in use: prometheus {port}" in str(failure.value)
    assert "PROMETHEUS_PORT" in str(failure.value)
    check_ports({"prometheus": port})  # free again once closed
