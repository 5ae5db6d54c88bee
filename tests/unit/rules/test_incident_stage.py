"""The backtest's incident stage: what reaches the receiver, paged once per incident as the receiver
pages it (the same rules, in memory), so `monitoring rules backtest --topology` counts real pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.settings import ConfigError
from ops.rules.dispatch import Alert, Notification
from ops.rules.incidents import incident_stage
from ops.rules.receiver_policy import pages
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.operations import IncidentReplay, incident_replay

TOPOLOGY = Path(__file__).resolve().parents[3] / "topology" / "platform.yaml"
POLICY = RoutingPolicy()


def alert(name: str, service: str, start: float = 100.0, **labels: str) -> Alert:
    every = {"alertname": name, "service": service, "priority": "critical", **labels}
    return Alert(tuple(sorted(every.items())), start, None)


def webhook(at: float, firing: tuple[Alert, ...] = (), resolved: tuple[Alert, ...] = ()) -> Notification:
    return Notification(at, "receiver", "webhook", "0", (), firing, resolved)


def replay() -> IncidentReplay:
    made = incident_replay(ReceiverConfig.from_environ({}), TOPOLOGY)
    assert made is not None
    return made


def triggers(notifications: list[Notification], stage: bool) -> list[tuple[str, str, str]]:
    staged = incident_stage(replay)(notifications) if stage else notifications
    return [(p.alertname, p.channel, p.action) for p in pages(staged, POLICY)]


SCRAPE = alert("ServiceDown", "transaction-service", job="platform")
CHECK = alert("ServiceDown", "transaction-service", job="exporter")


def test_two_alerts_of_one_outage_page_once_and_resolve_once() -> None:
    stream = [webhook(110, (SCRAPE, CHECK)), webhook(150, (CHECK,), (SCRAPE,)), webhook(160, (), (CHECK,))]
    assert len(triggers(stream, stage=False)) == 12  # 2 alerts x 3 channels, trigger and resolve
    assert triggers(stream, stage=True) == [
        ("ServiceDown", "pagerduty", "trigger"),
        ("ServiceDown", "slack", "trigger"),
        ("ServiceDown", "sms", "trigger"),
        ("ServiceDown", "pagerduty", "resolve"),
        ("ServiceDown", "slack", "resolve"),
        ("ServiceDown", "sms", "resolve"),
    ]
    resolve_times = [p.at for p in pages(incident_stage(replay)(stream), POLICY) if p.action == "resolve"]
    assert set(resolve_times) == {160}  # when the incident's last alert resolved


def test_a_symptom_of_an_open_incident_is_not_paged_and_unrelated_faults_are() -> None:
    kafka = alert("ExporterKafkaDown", "monitoring-exporter")
    lag = alert("EventLagHigh", "asset-service", start=120)
    elsewhere = alert("HostHighCpu", "node", start=125)
    stream = [webhook(110, (kafka,)), webhook(130, (kafka, lag)), webhook(131, (elsewhere,))]
    paged = {name for name, _, action in triggers(stream, stage=True) if action == "trigger"}
    assert paged == {"ExporterKafkaDown", "HostHighCpu"}


def test_each_run_replays_from_no_incident() -> None:
    stage = incident_stage(replay)
    stream = [webhook(110, (SCRAPE, CHECK))]
    assert len(pages(stage(stream), POLICY)) == len(pages(stage(stream), POLICY)) == 3


def test_a_bad_topology_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "topology.yaml"
    bad.write_text("parts:\n  - name: a\n    depends_on: [b]\n")
    with pytest.raises(ConfigError, match=r"topology.yaml:3: invalid topology: part 'a' depends on unknown part 'b'"):
        incident_replay(ReceiverConfig.from_environ({}), bad)
    assert incident_replay(ReceiverConfig.from_environ({})) is None
