"""What waits to be sent is visible: an alert's pending and scheduled notifications in the API and the console."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from receiver.delivery.message import duration_text
from receiver.delivery.notification import DeliveryFailed
from tests.unit.receiver.conftest import Receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"


def only_id(r: Receiver) -> int:
    return int(r.client.get("/api/v1/alerts").json["alerts"][0]["id"])  # type: ignore[index]


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def test_a_low_alert_waiting_for_the_digest_shows_its_channel_and_due_time(receiver: Receiver) -> None:
    assert receiver.client.post(URL, data=body(alert("Housekeeping", "low"))).status_code == 200
    receiver.worker.drain()
    digest_at = (math.floor(receiver.clock() / 3600) + 1) * 3600
    detail = receiver.client.get(f"/api/v1/alerts/{only_id(receiver)}").json
    assert detail["pendingJobs"] == [  # type: ignore[index]
        {
            "id": 1,
            "channel": "email_digest",
            "action": "trigger",
            "state": "pending",
            "dueAt": iso(digest_at),
            "attempts": 0,
            "maxAttempts": 3,
            "fallback": False,
            "lastError": None,
        }
    ]
    page = receiver.client.get(f"/console/alerts/{only_id(receiver)}").get_data(as_text=True)
    row = page[page.index('id="pending-jobs"') : page.index("<h2>Timeline</h2>")]
    assert 'data-channel="email_digest"' in row
    assert "waiting" in row
    assert f"{iso(digest_at)[11:19]} UTC (in {duration_text(digest_at - receiver.clock())})" in row
    assert "0 of 3" in row


def test_a_failing_channel_shows_its_retry_time_and_error_until_it_is_delivered(receiver: Receiver) -> None:
    receiver.channels["slack"].failures = [DeliveryFailed("slack: HTTP 503", retryable=True)]
    receiver.client.post(URL, data=body(alert("DiskFull", "medium")))
    receiver.worker.drain()
    [job] = receiver.client.get(f"/api/v1/alerts/{only_id(receiver)}").json["pendingJobs"]  # type: ignore[index]
    assert (job["channel"], job["state"], job["attempts"], job["lastError"]) == (
        "slack",
        "pending",
        1,
        "slack: HTTP 503",
    )
    assert job["dueAt"] > iso(receiver.clock())
    page = receiver.client.get(f"/console/alerts/{only_id(receiver)}").get_data(as_text=True)
    assert "slack: HTTP 503" in page
    receiver.clock.advance(400)
    receiver.worker.drain()
    assert receiver.client.get(f"/api/v1/alerts/{only_id(receiver)}").json["pendingJobs"] == []  # type: ignore[index]
    page = receiver.client.get(f"/console/alerts/{only_id(receiver)}").get_data(as_text=True)
    assert 'id="no-pending-jobs"' in page
