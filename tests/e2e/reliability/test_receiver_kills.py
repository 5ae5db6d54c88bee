"""Receiver kill -9 (gunicorn master and workers) again and again while Alertmanager sends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.credentials import get_json
from tests.e2e.receiver.conftest import ReceiverProcess, Sinks, receiver_env, wait_until
from tests.e2e.receiver.test_crash_and_concurrency import slack_alertnames
from tests.e2e.reliability.conftest import Figures, Scale
from tests.e2e.reliability.test_receiver_faults import alertmanager_for, fire

KILLS = {"short": 2, "full": 5}
FIRE_INTERVAL = 0.2  # seconds between new alert groups sent to Alertmanager


class AlertStream:
    """A new alert (its own group) fired into Alertmanager every ``FIRE_INTERVAL`` seconds."""

    def __init__(self, alertmanager_url: str) -> None:
        self.url = alertmanager_url
        self.fired: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-stream")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            name = f"Crash{len(self.fired):04d}"
            fire(self.url, name)
            self.fired.append(name)
            self._stop.wait(FIRE_INTERVAL)

    def stop(self) -> set[str]:
        self._stop.set()
        self._thread.join(30)
        return set(self.fired)


def history_alertnames(receiver: ReceiverProcess) -> set[str]:
    names: set[str] = set()
    after = ""
    for _ in range(100):  # pages of 1000: bounded
        page = get_json(f"{receiver.url}/api/v1/alerts?limit=1000{after}", receiver.api_key)
        names |= {a["alertname"] for a in page["alerts"]}
        if page["next"] is None:
            return names
        after = f"&after={page['next']}"
    raise AssertionError("history pages did not end")


def test_a_receiver_killed_again_and_again_while_alertmanager_sends_delivers_everything_with_bounded_duplicates(
    postgres_uri: str, sinks: Sinks, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    """Receiver kill -9 (gunicorn and all workers) while Alertmanager sends and the outbox holds pending jobs, repeated.

    After each restart Alertmanager's retries and the outbox catch up: every alert is in history
    (read through the API), every notification is delivered, with at most one duplicate per alert
    per crash (duplicates per alert <= kills; the maximum and the total are measured).
    """
    kills = KILLS[scale.name]
    sinks.slack.delay = 1.0  # a slow Slack: jobs pend in the outbox when the kill lands
    env = receiver_env(postgres_uri, sinks, tmp_path, RECEIVER_DEADMANS_SWITCH="false")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    alertmanager, am_url = alertmanager_for(receiver, tmp_path / "alertmanager")
    stream = AlertStream(am_url)
    pending_at_kill: list[int] = []
    restart_seconds: list[float] = []
    try:
        stream.start()
        for _ in range(kills):
            wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") >= 3, 30, "pending jobs")
            pending_at_kill.append(int(receiver.metric("receiver_outbox_pending_jobs")))
            receiver.kill_9()
            time.sleep(1)  # down for a second: Alertmanager's sends fail and are retried
            started = time.monotonic()
            receiver.start()
            restart_seconds.append(time.monotonic() - started)
        time.sleep(1)
        fired = stream.stop()
        back_at = time.monotonic()
        wait_until(lambda: history_alertnames(receiver) >= fired, 60, "every alert in history")
        wait_until(lambda: set(slack_alertnames(sinks)) >= fired, 90, "every notification")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, 30, "an empty outbox")
        caught_up = time.monotonic() - back_at
        in_history = history_alertnames(receiver)
    finally:
        stream.stop()
        alertmanager.stop()
        receiver.stop()
    delivered = slack_alertnames(sinks)
    duplicates = {name: count - 1 for name, count in delivered.items() if count > 1}
    assert in_history >= fired
    assert set(delivered) == fired  # every notification, and nothing that was not fired
    assert all(extra <= kills for extra in duplicates.values()), duplicates
    figures.record(
        kills=kills,
        alerts_fired=len(fired),
        pending_jobs_at_each_kill=pending_at_kill,
        restart_ready_s_max=round(max(restart_seconds), 1),
        lost_from_history=len(fired - in_history),
        lost_notifications=len(fired - set(delivered)),
        duplicates_per_alert_max=max(duplicates.values(), default=0),
        duplicates_total=sum(duplicates.values()),
        caught_up_after_last_restart_s=round(caught_up, 1),
    )
