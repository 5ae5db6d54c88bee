"""Real Prometheus and Alertmanager (the fast config) feed Watchdog to `monitoring receiver` on PostgreSQL.

Alertmanager stops: the receiver's dead man's switch pages the critical channels directly, once.
Alertmanager comes back: the same channels get the recovery.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ops.local.fast_config import Speed, write_fast_config
from tests import services
from tests.credentials import get_json
from tests.e2e.receiver.conftest import TOKEN, ReceiverProcess, Sinks, receiver_env, wait_until
from tests.processes import ServerProcess, start_alertmanager, start_prometheus
from tests.sinks import RecordingSink

ROOT = Path(__file__).resolve().parents[3]
BROKEN = b"MonitoringPipelineBroken"
# seconds: the test's dead man's switch window (production default 5m). Watchdog comes every ~2s once
# flowing; the first takes ~7s after the receiver starts (Prometheus and Alertmanager start-up).
WINDOW = 10.0


def fast_configs(workdir: Path, receiver: ReceiverProcess, am_port: int) -> tuple[str, str]:
    """The shipped configs, time-compressed, pointed at this test's ports. Prometheus keeps two rules,
    Watchdog and DeadMansSwitchFiring: the others need the exporter and platform, not run here."""
    token_file = workdir / "receiver-token"
    token_file.write_text(TOKEN)
    prometheus_path, alertmanager_path = write_fast_config(
        ROOT,
        workdir,
        Speed(),
        webhook_url=f"{receiver.url}/api/v1/alerts/alertmanager",
        credentials_file=str(token_file),
    )
    rules_path = workdir / "rules" / "alerts.yml"
    rules = yaml.safe_load(rules_path.read_text())
    wanted = {"Watchdog", "DeadMansSwitchFiring"}
    kept = [{**g, "rules": [r for r in g["rules"] if r.get("alert") in wanted]} for g in rules["groups"]]
    kept = [g for g in kept if g["rules"]]
    (workdir / "rules" / "pipeline.yml").write_text(yaml.safe_dump({"groups": kept}, sort_keys=False))
    prometheus = yaml.safe_load(prometheus_path.read_text())
    prometheus["rule_files"] = ["rules/pipeline.yml"]
    prometheus["scrape_configs"] = [
        {
            "job_name": "receiver",
            "static_configs": [
                {"targets": [f"127.0.0.1:{receiver.port}"], "labels": {"service": "monitoring-receiver"}}
            ],
        }
    ]
    prometheus["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
    del prometheus["remote_write"]  # the shipped long-term store (:8428) is not this test's
    return yaml.safe_dump(prometheus, sort_keys=False), alertmanager_path.read_text()


def about_the_pipeline(sink: RecordingSink, word: bytes) -> int:
    """Notifications on ``sink`` about the broken pipeline whose body carries ``word``."""
    return sum(1 for r in sink.received() if BROKEN in r.body and word in r.body)


def pagerduty_actions(sinks: Sinks) -> list[str]:
    """Events on the broken pipeline's incident (a resolve carries only its trigger's dedup_key)."""
    events = [r.json() for r in sinks.pagerduty.received()]
    keys = {e["dedup_key"] for e in events if BROKEN.decode() in json.dumps(e)}
    return [e["event_action"] for e in events if e["dedup_key"] in keys]


def prometheus_alerts(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())["data"]["alerts"]
    return alerts


def firing_in_prometheus(port: int, name: str) -> bool:
    return any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in prometheus_alerts(port))


def test_watchdog_silence_pages_the_critical_channels_once_directly_and_its_return_recovers(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_DEADMANS_WINDOW=f"{WINDOW:g}s")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"]))
    am_port, prom_port = services.free_port(), services.free_port()
    prometheus_config, alertmanager_config = fast_configs(tmp_path, receiver, am_port)
    am_binary = services.binary("prometheus-alertmanager", "prometheus-alertmanager")
    (tmp_path / "am").mkdir()
    (tmp_path / "prom").mkdir()
    (tmp_path / "prom" / "rules").symlink_to(tmp_path / "rules")
    alertmanager: ServerProcess | None = None
    prometheus: ServerProcess | None = None
    try:
        receiver.start()
        alertmanager = start_alertmanager(am_binary, alertmanager_config, tmp_path / "am", am_port)
        prometheus = start_prometheus(
            services.binary("prometheus", "prometheus"), prometheus_config, tmp_path / "prom", prom_port
        )
        # Watchdog arrives every second (repeat_interval 1m / 60); nothing is paged for it.
        wait_until(lambda: receiver.metric("receiver_watchdogs_received_total") >= 1, WINDOW, "the first Watchdog")
        steady_from = receiver.metric("receiver_watchdogs_received_total")
        wait_until(  # Watchdogs for longer than the window (one every ~2s)
            lambda: receiver.metric("receiver_watchdogs_received_total") >= steady_from + WINDOW / 2 + 1,
            WINDOW + 10,
            "Watchdogs for longer than the window",
        )
        assert [len(s.received()) for s in sinks.all()] == [0, 0, 0, 0]
        assert receiver.metric("receiver_deadmans_switch_firing") == 0
        assert receiver.metric("receiver_watchdog_last_seen_timestamp_seconds") > 0

        alertmanager.stop()
        alertmanager = None
        wait_until(
            lambda: (
                all(about_the_pipeline(s, b"FIRING") for s in (sinks.slack, sinks.sms))
                and pagerduty_actions(sinks) == ["trigger"]
            ),
            WINDOW + 15,
            "the pipeline-broken page on every critical channel",
        )
        # Prometheus sees the switch through the receiver's metrics (and would page through Alertmanager).
        wait_until(lambda: firing_in_prometheus(prom_port, "DeadMansSwitchFiring"), 15, "DeadMansSwitchFiring")
        assert (about_the_pipeline(sinks.slack, b"FIRING"), about_the_pipeline(sinks.sms, b"FIRING")) == (1, 1)
        assert pagerduty_actions(sinks) == ["trigger"]
        assert len(sinks.webhook.received()) == 0  # not a critical channel
        assert b"no Watchdog from Alertmanager since" in sinks.slack.received()[0].body

        alertmanager = start_alertmanager(am_binary, alertmanager_config, tmp_path / "am", am_port)
        wait_until(
            lambda: (
                all(about_the_pipeline(s, b"RESOLVED") for s in (sinks.slack, sinks.sms))
                and pagerduty_actions(sinks) == ["trigger", "resolve"]
            ),
            20,
            "the recovery on every critical channel",
        )
        assert (about_the_pipeline(sinks.slack, b"FIRING"), about_the_pipeline(sinks.sms, b"FIRING")) == (1, 1)
        assert receiver.metric("receiver_deadmans_switch_firing") == 0
        history = get_json(f"{receiver.url}/api/v1/alerts?service=monitoring-receiver", receiver.api_key)["alerts"]
    finally:
        if prometheus is not None:
            prometheus.stop()
        if alertmanager is not None:
            alertmanager.stop()
        receiver.stop()
    episodes = [a for a in history if a["alertname"] == "MonitoringPipelineBroken"]
    assert [(a["status"], a["priority"]) for a in episodes] == [("resolved", "critical")]
