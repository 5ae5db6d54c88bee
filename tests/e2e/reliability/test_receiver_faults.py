"""Receiver faults: its PostgreSQL down while Alertmanager sends, and webhook overload."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests import services
from tests.e2e.receiver.conftest import TOKEN, ReceiverProcess, Sinks, receiver_env, wait_until
from tests.e2e.receiver.test_crash_and_concurrency import slack_alertnames
from tests.e2e.reliability.conftest import SCALES, Figures, PrivatePostgres, Scale, firing
from tests.processes import ServerProcess, post_alerts, start_alertmanager
from tests.unit.receiver.fakes import alert, webhook


def alertmanager_for(receiver: ReceiverProcess, workdir: Path) -> tuple[ServerProcess, str]:
    """A real Alertmanager sending every alert in its own group to the receiver's webhook."""
    port = services.free_port()
    config = (
        "route: {receiver: rx, group_by: [alertname], group_wait: 500ms, group_interval: 2s, repeat_interval: 1h}\n"
        "receivers:\n"
        "  - name: rx\n"
        "    webhook_configs:\n"
        f"      - url: {receiver.url}/api/v1/alerts/alertmanager\n"
        f"        http_config: {{authorization: {{credentials: {TOKEN}}}}}\n"
    )
    workdir.mkdir()
    binary = services.binary("prometheus-alertmanager", "prometheus-alertmanager")
    return start_alertmanager(binary, config, workdir, port), f"http://127.0.0.1:{port}"


def fire(alertmanager_url: str, name: str) -> None:
    body = [{"labels": {"alertname": name, "priority": "medium", "service": "portfolio"},
             "startsAt": datetime.now(UTC).isoformat()}]  # fmt: skip
    post_alerts(alertmanager_url, body)


def post(receiver: ReceiverProcess, payload: dict[str, object], timeout: float = 60) -> tuple[int, float]:
    """POST to the webhook as Alertmanager does; returns the status and the seconds it took."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{receiver.url}/api/v1/alerts/alertmanager",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return int(exc.code), time.monotonic() - started


def stored_alertnames(uri: str) -> set[str]:
    with psycopg.connect(uri, connect_timeout=3) as conn:
        return {row[0] for row in conn.execute("SELECT alertname FROM alerts")}


def test_a_postgresql_outage_gets_503s_and_alertmanager_retries_until_every_alert_is_stored_and_sent(
    private_postgres: PrivatePostgres, sinks: Sinks, tmp_path: Path, scale: Scale, figures: Figures
) -> None:
    """Receiver's PostgreSQL stopped while Alertmanager sends alerts.

    The webhook answers 503 (never 2xx) while the database is down; Alertmanager retries; after
    recovery every alert is in history and every notification is sent: exactly once, except a
    delivery in flight at the stop, sent at most once more.
    """
    env = receiver_env(private_postgres.uri, sinks, tmp_path, RECEIVER_DEADMANS_SWITCH="false")
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    alertmanager, am_url = alertmanager_for(receiver, tmp_path / "alertmanager")
    fired: list[str] = []
    direct: dict[str, int] = {}
    answer_seconds: list[float] = []
    try:
        for i in range(5):
            fired.append(f"BeforeOutage{i}")
            fire(am_url, fired[-1])
        wait_until(lambda: stored_alertnames(private_postgres.uri) >= set(fired), 30, "alerts before the outage")
        private_postgres.stop()
        down_at = time.monotonic()
        i = 0
        while time.monotonic() - down_at < scale.outage_seconds:
            fired.append(f"DuringOutage{i}")
            fire(am_url, fired[-1])
            name = f"Direct{i}"  # straight to the webhook, to see each answer
            direct[name], took = post(receiver, webhook(alert(name, "medium", fingerprint=f"d{i:06x}")))
            answer_seconds.append(took)
            i += 1
            time.sleep(1)
        outage = time.monotonic() - down_at
        private_postgres.start()
        back_at = time.monotonic()
        accepted = {name for name, status in direct.items() if 200 <= status < 300}
        expected = set(fired) | accepted
        wait_until(lambda: stored_alertnames(private_postgres.uri) >= expected, 60, "every alert in history")
        stored_after = time.monotonic() - back_at
        wait_until(lambda: set(slack_alertnames(sinks)) >= expected, 60, "every notification")
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, 30, "an empty outbox")
        sent_after = time.monotonic() - back_at
        rejected_during_outage = receiver.metric("receiver_webhooks_rejected_total")  # a counter: read once back
    finally:
        alertmanager.stop()
        receiver.stop()
    assert set(direct.values()) == {503}, direct  # no 2xx for anything not stored
    assert rejected_during_outage > 0  # Alertmanager's sends were refused, then retried
    delivered = slack_alertnames(sinks)
    assert set(delivered) == expected
    # At-least-once: a delivery in flight when PostgreSQL stopped (sent, not yet marked) is sent
    # once more after recovery. Only those may repeat, and only once; the rest go exactly once.
    repeated = {n: c for n, c in delivered.items() if c > 1}
    assert all(n.startswith("BeforeOutage") and c == 2 for n, c in repeated.items()), repeated
    figures.record(
        outage_seconds=round(outage, 1),
        alerts_via_alertmanager=len(fired),
        direct_webhooks_during_outage=len(direct),
        answers_during_outage=dict(sorted((str(s), list(direct.values()).count(s)) for s in set(direct.values()))),
        webhooks_refused_503=int(rejected_during_outage),
        slowest_503_answer_s=round(max(answer_seconds), 1),
        all_in_history_after_s=round(stored_after, 1),
        all_sent_after_s=round(sent_after, 1),
        lost=len(expected - set(delivered)),
        duplicate_notifications=sum(delivered.values()) - len(delivered),
    )


@pytest.mark.timeout(SCALES["full"].channel_down_seconds + 300)
def test_a_channel_down_is_retried_with_backoff_then_falls_back_dead_letters_and_fires_the_meta_alert(
    postgres_uri: str,
    sinks: Sinks,
    tmp_path: Path,
    scale: Scale,
    figures: Figures,
    prometheus_for: Callable[..., str],
) -> None:
    """A channel endpoint (Slack) down for the whole scenario while a high alert is delivered.

    Slack gets exactly the retry budget of attempts, spaced by exponential backoff (each gap at
    least half its nominal delay); then the fallback channel gets the alert once, a dead-letter
    entry is counted and NotificationsDeadLettered fires in Prometheus (shipped rules). SMS, the
    alert's other channel, gets it exactly once.
    """
    budget, down = 6, scale.channel_down_seconds
    base, cap = down / 40, down * 0.4  # the budget runs out between 40% and 80% of the outage
    policy = tmp_path / "routing.yml"
    policy.write_text(f"fallback: webhook\npriorities:\n  high: {{channels: [slack, sms], retry_budget: {budget}}}\n")
    env = receiver_env(
        postgres_uri,
        sinks,
        tmp_path,
        RECEIVER_ROUTING_FILE=str(policy),
        RECEIVER_WEBHOOK_URL=f"{sinks.webhook.url}/hook",
        RECEIVER_RETRY_BASE=f"{base * 1000:.0f}ms",
        RECEIVER_RETRY_MAX=f"{cap * 1000:.0f}ms",
        RECEIVER_DEADMANS_SWITCH="false",
    )
    sinks.slack.status = 503
    receiver = ReceiverProcess(env, tmp_path / "receiver.log", int(env["RECEIVER_PORT"])).start()
    try:
        prometheus = prometheus_for(receiver.port, "receiver")
        down_at = time.monotonic()
        assert receiver.post(webhook(alert("ChannelDown", "high", fingerprint="c0ffee"))) == 200
        wait_until(lambda: len(sinks.webhook.received()) >= 1, down, "the fallback notification")
        fell_back_after = time.monotonic() - down_at
        wait_until(lambda: firing(prometheus, "NotificationsDeadLettered"), 60, "the meta-alert")
        meta_alert_after = time.monotonic() - down_at
        dead_letters = receiver.metric("receiver_dead_letters_total")
        remaining = down - (time.monotonic() - down_at)
        if remaining > 0:
            time.sleep(remaining)  # the endpoint stays down for the stated duration
        sinks.slack.status = 200
        wait_until(lambda: receiver.metric("receiver_outbox_pending_jobs") == 0, 30, "an empty outbox")
    finally:
        receiver.stop()
    attempts = [r.received_at for r in sinks.slack.received()]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    nominal = [min(cap, base * 2.0**i) for i in range(len(gaps))]
    assert len(attempts) == budget
    assert all(gap >= n / 2 for gap, n in zip(gaps, nominal, strict=True)), (gaps, nominal)
    [fallback] = sinks.webhook.received()
    assert (fallback.json()["fallback"], fallback.json()["alert"]["alertname"]) == (True, "ChannelDown")
    assert len(sinks.sms.received()) == 1
    assert dead_letters == 1
    figures.record(
        channel_down_s=round(down, 1),
        attempts=f"{len(attempts)} (budget {budget})",
        backoff_gaps_s=[round(g, 1) for g in gaps],
        fallback_after_s=round(fell_back_after, 1),
        dead_letters=int(dead_letters),
        meta_alert_after_s=round(meta_alert_after, 1),
        other_channel_duplicates=len(sinks.sms.received()) - 1,
    )
