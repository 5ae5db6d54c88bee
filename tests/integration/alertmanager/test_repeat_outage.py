"""A new outage pages quickly even while Alertmanager still holds the previous outage's group.

Alertmanager (0.25) sends a new group's first notification after `group_wait`, but an alert
that joins a group which has already flushed waits for the group's next `group_interval` tick.
A group outlives its alerts: it is flushed once more to send the resolve and then dropped by
the dispatcher's 30s sweep. So a service that goes down again within a minute or so of
recovering pages `group_interval` after detection, not `group_wait`. These tests run a real
Alertmanager on the shipped configuration, sped up, through exactly that sequence: an
outage, its resolve, and a second outage posted right after the resolve went out (the worst
moment, a full `group_interval` before the next tick).
"""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.local.fast_config import Speed, parse_seconds, scale_alertmanager
from tests import services
from tests.processes import ServerProcess, post_alerts, start_alertmanager
from tests.sinks import RecordedRequest, RecordingSink

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "alertmanager" / "alertmanager.yml"
# Headroom over the bound for a loaded 2-core machine (timers, webhook, polling).
SLACK_S = 3.0


def route_of(receiver: str) -> dict[str, Any]:
    routes: list[dict[str, Any]] = yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    return next(route for route in routes if route["receiver"] == receiver)


def post_alert(port: int, labels: dict[str, str], starts_at: datetime, ends_at: datetime) -> None:
    """As Prometheus does: a firing alert ends in the future, a resolved one now."""
    alert = {
        "labels": labels,
        "annotations": {"summary": "outage"},
        "startsAt": starts_at.isoformat(),
        "endsAt": ends_at.isoformat(),
    }
    post_alerts(f"http://127.0.0.1:{port}", [alert])


def aggregation_groups(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("alertmanager_dispatcher_aggregation_groups "):
                return float(line.split()[1])
    raise AssertionError("Alertmanager exposes no alertmanager_dispatcher_aggregation_groups")


def notifications(sink: RecordingSink, status: str, after: int) -> list[RecordedRequest]:
    return [r for r in sink.received()[after:] if r.json()["status"] == status]


def wait_for_notification(sink: RecordingSink, status: str, after: int, timeout: float) -> RecordedRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = notifications(sink, status, after)
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no {status} notification within {timeout:.1f}s: {[r.json() for r in sink.received()]}")


@pytest.mark.parametrize(
    ("receiver", "priority"),
    [("priority-critical", "critical"), ("priority-high", "high")],
)
def test_a_second_outage_in_a_still_open_group_pages_within_twice_group_wait(
    tmp_path: Path, sink: RecordingSink, receiver: str, priority: str
) -> None:
    route = route_of(receiver)
    # Sped up so that this route's group_wait becomes 1s; every other timing keeps its ratio.
    speed = Speed(speedup=parse_seconds(route["group_wait"]))
    config = scale_alertmanager(yaml.safe_load(CONFIG.read_text()), speed, f"{sink.url}/hook", str(tmp_path / "t"))
    (tmp_path / "t").write_text("token")
    group_wait = parse_seconds(route["group_wait"]) / speed.speedup
    port = services.free_port()
    alertmanager: ServerProcess = start_alertmanager(
        services.binary("prometheus-alertmanager", "prometheus-alertmanager"),
        yaml.safe_dump(config, sort_keys=False),
        tmp_path,
        port,
    )
    labels = {"alertname": "ServiceDown", "priority": priority, "service": "asset-service", "kind": "threshold"}
    try:
        first = datetime.now(UTC)
        post_alert(port, labels, first, first + timedelta(hours=1))
        wait_for_notification(sink, "firing", 0, timeout=group_wait + SLACK_S + 10)
        post_alert(port, labels, first, datetime.now(UTC))
        wait_for_notification(sink, "resolved", 0, timeout=60)
        seen = len(sink.received())
        assert aggregation_groups(port) == 1, "the first outage's group must still be open for the second outage"

        posted = time.monotonic()
        second = datetime.now(UTC)
        post_alert(port, labels, second, second + timedelta(hours=1))
        # A lost or slow page shows as a timeout naming the wait; the bound below is the contract.
        page = wait_for_notification(sink, "firing", seen, timeout=60)
    finally:
        alertmanager.stop()

    waited = page.received_at - posted
    assert waited <= 2 * group_wait + SLACK_S, (
        f"the second {priority} outage waited {waited:.1f}s (x{speed.speedup:g} in production) for its group's "
        f"next tick; {receiver}'s group_interval must stay within twice its group_wait ({route})"
    )
