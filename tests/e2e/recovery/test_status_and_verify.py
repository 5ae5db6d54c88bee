"""``monitoring status`` and ``monitoring verify`` against real Alertmanager, PostgreSQL, Kafka and FerretDB."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import requests

from monitoring.eventstore.mongo import COLLECTION
from receiver.delivery.domain_events import ReceiverDomainEvents
from tests import services
from tests.integration.recovery.commands import Clock, Receiver, alert, command, command_json, receiver_on
from tests.processes import ServerProcess, start_alertmanager
from tests.sinks import RecordingSink

AM_CONFIG = """
route:
  receiver: nowhere
  group_wait: 1h
receivers:
  - name: nowhere
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = services.free_port()
    server: ServerProcess = start_alertmanager(
        services.binary("prometheus-alertmanager", "prometheus-alertmanager"),
        AM_CONFIG,
        tmp_path_factory.mktemp("alertmanager"),
        port,
    )
    yield f"http://127.0.0.1:{port}"
    server.stop()


def fire(alertmanager: str, *names: str) -> dict[str, str]:
    """Post alerts to Alertmanager's API v2; their fingerprints by name."""
    alerts = [{"labels": {"alertname": n, "priority": "high", "service": "recovery"}} for n in names]
    requests.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()
    held = requests.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
    return {a["labels"]["alertname"]: a["fingerprint"] for a in held if a["labels"]["alertname"] in names}


def test_status_shows_every_component_and_fails_only_when_a_required_one_is_down(
    alertmanager: str, postgres_uri: str, kafka_brokers: str, sink: RecordingSink
) -> None:
    down = f"http://127.0.0.1:{services.free_port()}"
    env = {
        "POSTGRES_URI": postgres_uri,
        "KAFKA_BROKERS": kafka_brokers,
        "MONGODB_URI": services.mongodb_uri(),
        "MONITORING_ALERTMANAGER_URL": alertmanager,
        "MONITORING_EXPORTER_URL": sink.url,
        "MONITORING_RECEIVER_URL": sink.url,
        "MONITORING_PROMETHEUS_URL": sink.url,
        "MONITORING_NODE_EXPORTER_URL": down,  # optional by default
    }
    code, document = command_json(env, "status", "--timeout", "3")
    states = {c["name"]: c["state"] for c in document["components"]}
    assert states == {
        "exporter": "up",
        "receiver": "up",
        "prometheus": "up",
        "alertmanager": "up",
        "node-exporter": "down",
        "kafka": "up",
        "postgresql": "up",
        "mongodb": "up",
    }
    assert code == 0
    assert "***" in next(c["target"] for c in document["components"] if c["name"] == "postgresql")  # no password
    code, table = command({**env, "MONITORING_RECEIVER_URL": down}, "status", "--timeout", "2")
    assert code == 1
    assert table.splitlines()[0].split() == ["COMPONENT", "STATE", "REQUIRED", "TARGET", "DETAIL"]
    assert next(line for line in table.splitlines() if line.startswith("receiver ")).split()[1] == "down"
    # The installed command: parser, dispatch and exit code.
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "status", "--json", "--timeout", "2"],
        env={"PATH": "/usr/bin:/bin", **env, "KAFKA_BROKERS": f"127.0.0.1:{services.free_port()}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert {c["name"]: c["state"] for c in json.loads(result.stdout)["components"]}["kafka"] == "down"


def kinds(document: dict[str, Any]) -> list[tuple[str, bool]]:
    return sorted((d["kind"], d["repaired"]) for d in document["discrepancies"])


def test_verify_finds_each_discrepancy_repairs_the_safe_ones_and_then_reports_consistency(
    alertmanager: str, postgres_uri: str, mongo_database: str, sink: RecordingSink, tmp_path: Path
) -> None:
    mongo_uri = services.mongodb_uri().rstrip("/") + f"/{mongo_database}"
    env = {
        "POSTGRES_URI": postgres_uri,
        "MONGODB_URI": mongo_uri,
        "MONITORING_ALERTMANAGER_URL": alertmanager,
        "RECEIVER_DEADMANS_SWITCH": "off",  # the hour-long clock jump would open a silence episode
    }
    fingerprints = fire(alertmanager, "InBoth", "OnlyInAlertmanager")
    clock = Clock(time.time() - 3600)  # what the receiver recorded is an hour old
    receiver = receiver_on(env, tmp_path, sink.url, clock)
    receiver.post(alert("InBoth", fingerprints["InBoth"]), alert("GoneFromAlertmanager", "dead0001"))
    try:
        check_verify(env, receiver, fingerprints, mongo_uri, clock)
    finally:
        receiver.close()


def check_verify(
    env: dict[str, str], receiver: Receiver, fingerprints: dict[str, str], mongo_uri: str, clock: Clock
) -> None:
    assert len(receiver.history.claim(clock(), 60.0, 10)) == 2  # a worker took both jobs, then died
    domain_events: ReceiverDomainEvents = receiver.app.extensions["domain_events"]
    domain_events.relay().run_once()  # published (to the log) and stored in FerretDB
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_uri)
    events = client.get_default_database()[COLLECTION]
    lost = events.find_one({})
    assert lost is not None
    events.delete_one({"id": lost["id"]})  # the store lost one

    code, found = command_json(env, "verify")
    assert code == 1
    assert kinds(found) == [
        ("lease_expired", False),
        ("lease_expired", False),
        ("missing_in_history", False),
        ("missing_in_store", False),
        ("stale_open", False),
    ]
    assert "OnlyInAlertmanager" in next(
        d["subject"] for d in found["discrepancies"] if d["kind"] == "missing_in_history"
    )

    code, repaired = command_json(env, "verify", "--repair")
    assert code == 1  # the alert missing from the history needs Alertmanager to send it again
    assert kinds(repaired) == [
        ("lease_expired", True),
        ("lease_expired", True),
        ("missing_in_history", False),
        ("missing_in_store", True),
        ("stale_open", True),
    ]
    audit = receiver.client.get("/api/v1/audit?action=verify.repair").json  # one entry per repair
    assert audit is not None
    assert sorted(e["detail"] for e in audit["entries"]) == [
        "alertmanager_vs_history stale_open",
        "event_store missing_in_store",
        "outbox lease_expired",
        "outbox lease_expired",
    ]
    gone = receiver.client.get("/api/v1/alerts/2").json
    assert gone is not None
    assert gone["status"] == "resolved"
    assert any("monitoring verify" in (e["actor"] or "") for e in gone["timeline"])
    clock.now = time.time() + 1
    receiver.worker.drain()  # released jobs are delivered by the normal worker
    jobs = list(receiver.history.jobs_by_state())  # type: ignore[attr-defined]
    assert len(jobs) == 2
    assert [state for _, _, state, _ in jobs] == ["delivered"] * len(jobs)
    domain_events.relay().run_once()
    assert events.find_one({"id": lost["id"]}) is not None  # stored again
    client.close()

    receiver.post(alert("OnlyInAlertmanager", fingerprints["OnlyInAlertmanager"]))
    receiver.worker.drain()
    domain_events.relay().run_once()
    code, text = command(env, "verify")
    assert (code, text) == (0, "consistent: no discrepancies"), text
