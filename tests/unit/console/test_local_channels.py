"""The file and console channels that stand in for paid services on a local machine."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channel_set import build_channels
from receiver.delivery.channels.file import ConsoleChannel, FileChannel
from receiver.delivery.composer import default_composer
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.store.history import AlertRecord
from tests.unit.receiver.conftest import build_receiver
from tests.unit.receiver.fakes import T0, alert, body

COMPOSER = default_composer()


def record(**labels: str) -> AlertRecord:
    return AlertRecord(
        id=7, fingerprint="f1", starts_at=T0, alertname="ServiceDown", status="firing", priority="critical",
        priority_defaulted=False, service="transaction-service", labels={"alertname": "ServiceDown", **labels},
        annotations={"summary": "down"}, generator_url="", first_seen=T0, last_seen=T0, resolved_at=None,
        acked_at=None, acked_by=None, escalations=0,
    )  # fmt: skip


def test_the_file_channel_appends_one_json_line_per_notification(tmp_path: Path) -> None:
    path = tmp_path / "out" / "notifications.jsonl"
    channel = FileChannel(path, lambda: T0, COMPOSER)
    channel.send(Notification(record(), "trigger"))
    channel.send(Notification(record(note="line\nbreak"), "resolve"))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["title"] == "[CRITICAL] FIRING: ServiceDown (transaction-service)"
    assert first["at"] == T0
    assert first["alert"]["id"] == 7
    assert second["action"] == "resolve"
    assert second["alert"]["labels"]["note"] == "line\nbreak"


def test_an_unwritable_file_is_a_retryable_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(DeliveryFailed) as failure:
        FileChannel(blocker / "notifications.jsonl", lambda: T0, COMPOSER).send(Notification(record(), "trigger"))
    assert failure.value.retryable


def test_the_console_channel_prints_the_title_on_one_line() -> None:
    stream = io.StringIO()
    ConsoleChannel(COMPOSER, stream).send(Notification(record(), "escalate"))
    assert (
        stream.getvalue()
        == "NOTIFICATION [CRITICAL] ESCALATED (not acknowledged): ServiceDown (transaction-service) (alert 7)\n"
    )


def test_local_channels_are_built_only_when_configured(tmp_path: Path) -> None:
    bare = ReceiverConfig.from_environ({})
    assert build_channels(bare.channels, 1.0, COMPOSER) == {}
    local = ReceiverConfig.from_environ(
        {"RECEIVER_FILE_CHANNEL_PATH": str(tmp_path / "n.jsonl"), "RECEIVER_CONSOLE_CHANNEL": "true"}
    )
    assert sorted(build_channels(local.channels, 1.0, COMPOSER)) == ["console", "file"]


def test_a_routing_policy_may_name_the_file_channel_as_fallback_and_escalation() -> None:
    policy = RoutingPolicy.from_mapping({"fallback": "file", "priorities": {"critical": {"escalation": ["file"]}}})
    assert policy.fallback == "file"


def test_with_only_the_file_channel_every_alert_falls_back_to_it(tmp_path: Path) -> None:
    path = tmp_path / "notifications.jsonl"
    routing = tmp_path / "routing.yaml"
    routing.write_text("fallback: file\n")
    r = build_receiver(
        tmp_path,
        env={"RECEIVER_ROUTING_FILE": str(routing)},
        channels=("file",),
        overrides={"file": FileChannel(path, lambda: T0, COMPOSER)},
    )
    assert r.client.post("/api/v1/alerts/alertmanager", data=body(alert("DiskFull", "critical"))).status_code == 200
    r.worker.drain()
    assert [json.loads(line)["title"] for line in path.read_text().splitlines()] == [
        "[CRITICAL] FIRING: DiskFull (portfolio)"
    ]
