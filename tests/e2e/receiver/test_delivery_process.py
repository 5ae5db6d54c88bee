"""The delivery process beside gunicorn's workers: started with the receiver, started again when it dies,
told of a reload, stopped with the receiver, and gone when the master is."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path

from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.e2e.receiver.test_crash_and_concurrency import slack_alertnames
from tests.sinks import Reply
from tests.unit.receiver.fakes import alert, webhook

DELIVERY = "receiver.delivery.process"


def children(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``: their command lines by pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
    return found


def delivery_pids(receiver: ReceiverProcess) -> list[int]:
    assert receiver.proc is not None
    return [pid for pid, command in children(receiver.proc.pid).items() if DELIVERY in command]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_delivery_process_runs_beside_the_workers_and_a_dead_one_is_started_again(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    env = receiver_env(postgres_uri, sinks, tmp_path)
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        wait_until(lambda: len(delivery_pids(receiver)) == 1, 10, "the delivery process")
        [first] = delivery_pids(receiver)
        assert receiver.post(webhook(alert("BeforeTheKill", "medium"))) == 200
        wait_until(lambda: slack_alertnames(sinks)["BeforeTheKill"] == 1, 30, "a delivery")
        # counted once recorded: a kill before that would leave the job to be sent again after its lease
        wait_until(lambda: receiver.metric("receiver_notifications_sent_total") == 1, 10, "the send counted")
        os.kill(first, signal.SIGKILL)
        assert receiver.post(webhook(alert("WhileItWasDown", "medium"))) == 200  # intake does not need it
        wait_until(lambda: delivery_pids(receiver) not in ([], [first]), 15, "a new delivery process")
        wait_until(lambda: slack_alertnames(sinks)["WhileItWasDown"] == 1, 30, "the delivery that waited")
        # what both delivery processes counted is on the workers' /metrics (multiprocess mode)
        wait_until(lambda: receiver.metric("receiver_notifications_sent_total") == 2, 10, "both sends counted")
    finally:
        receiver.stop()
    assert "delivery process (pid" in receiver.log_path.read_text()


def test_a_reload_reaches_the_delivery_process(postgres_uri: str, sinks: Sinks, tmp_path: Path) -> None:
    """The fallback channel is the delivery process's choice: after a reload it takes the new one."""
    rejected = Reply(400, {"Content-Type": "application/json"}, b'{"status":"invalid event"}')
    sinks.pagerduty.script = [rejected, rejected]
    policy = tmp_path / "routing.yml"
    policy.write_text("fallback: webhook\npriorities:\n  high: {channels: [pagerduty]}\n")
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_ROUTING_FILE=str(policy),
                       RECEIVER_WEBHOOK_URL=f"{sinks.webhook.url}/hook")  # fmt: skip
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        assert receiver.post(webhook(alert("FallsBackToWebhook", "high"))) == 200
        wait_until(lambda: len(sinks.webhook.received()) == 1, 30, "the fallback on the webhook channel")
        policy.write_text("fallback: slack\npriorities:\n  high: {channels: [pagerduty]}\n")
        request = urllib.request.Request(  # noqa: S310 - loopback
            f"{receiver.url}/api/v1/config/reload",
            method="POST",
            headers={"Authorization": f"Bearer {receiver.api_key}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
        wait_until(lambda: '"routing policy reloaded"' in receiver.log_path.read_text(), 10, "the delivery's reload")
        assert receiver.post(webhook(alert("FallsBackToSlack", "high"))) == 200
        wait_until(lambda: slack_alertnames(sinks)["FallsBackToSlack"] == 1, 30, "the fallback on Slack")
    finally:
        receiver.stop()
    assert [r.json()["alert"]["alertname"] for r in sinks.webhook.received()] == ["FallsBackToWebhook"]


def test_the_delivery_process_stops_with_the_receiver_and_without_its_master(
    postgres_uri: str, sinks: Sinks, tmp_path: Path
) -> None:
    env = receiver_env(postgres_uri, sinks, tmp_path)
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        wait_until(lambda: len(delivery_pids(receiver)) == 1, 10, "the delivery process")
        [stopped] = delivery_pids(receiver)
    finally:
        receiver.stop()  # SIGTERM to the master
    wait_until(lambda: not alive(stopped), 10, "the delivery process stopped with the receiver")
    assert '"delivery stopped"' in receiver.log_path.read_text()

    receiver.start()
    try:
        wait_until(lambda: len(delivery_pids(receiver)) == 1, 10, "the delivery process")
        assert receiver.proc is not None
        orphaned = children(receiver.proc.pid)  # the workers and the delivery process
        os.kill(receiver.proc.pid, signal.SIGKILL)  # the master alone, as an OOM kill would
        wait_until(
            lambda: not [command for pid, command in orphaned.items() if alive(pid)],
            20,
            f"every child gone after its master: {orphaned}, alive: {[p for p in orphaned if alive(p)]}",
        )
    finally:
        receiver.stop()
