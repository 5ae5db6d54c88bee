"""GET /api/v1/events on the app with SQLite history and the SQLite event store: filters, pages, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from receiver.delivery.domain_events import ReceiverDomainEvents
from receiver.store.alert_events import Deferred
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/events"
WEBHOOK = "/api/v1/alerts/alertmanager"


def receiver_with_events(tmp_path: Path) -> Receiver:
    # The alerts start in March 2026 (the fakes' clock); a long retention keeps the relay's hourly
    # purge, which runs on the wall clock, from deleting them.
    env = {"RECEIVER_EVENT_STORE_PATH": str(tmp_path / "events.sqlite3"), "RETENTION_EVENTS": "3650d"}
    return build_receiver(tmp_path, env)


def relay(r: Receiver) -> ReceiverDomainEvents:
    events: ReceiverDomainEvents = r.app.extensions["domain_events"]
    return events


def document(response: TestResponse) -> dict[str, Any]:
    body: dict[str, Any] = response.get_json()
    return body


def kinded(name: str, kind: str, **kwargs: Any) -> dict[str, Any]:
    made = alert(name, **kwargs)
    made["labels"]["kind"] = kind
    return made


@pytest.fixture
def populated(tmp_path: Path) -> Receiver:
    """Two threshold alerts and one anomaly fired, the anomaly resolved, all relayed (log + SQLite store)."""
    r = receiver_with_events(tmp_path)
    firing = [
        kinded("DiskFull", "threshold", starts_at="2026-03-02T08:00:00Z"),
        kinded("HighLatency", "threshold", starts_at="2026-03-02T08:01:00Z"),
        kinded("PerformanceAnomaly", "anomaly", starts_at="2026-03-02T08:02:00Z"),
    ]
    assert r.client.post(WEBHOOK, data=body(*firing)).status_code == 200
    resolved = kinded("PerformanceAnomaly", "anomaly", starts_at="2026-03-02T08:02:00Z", status="resolved")
    assert r.client.post(WEBHOOK, data=body(resolved)).status_code == 200
    for _ in range(3):
        relay(r).relay().run_once()
    return r


def test_every_alert_event_is_listed_in_time_order(populated: Receiver) -> None:
    response = populated.client.get(URL)
    assert response.status_code == 200
    events = document(response)["events"]
    assert [(e["time"], e["type"], e["data"]["alertname"]) for e in events] == sorted(
        [
            ("2026-03-02T08:00:00.000Z", "AlertCreated", "DiskFull"),
            ("2026-03-02T08:00:00.000Z", "ThresholdExceeded", "DiskFull"),
            ("2026-03-02T08:01:00.000Z", "AlertCreated", "HighLatency"),
            ("2026-03-02T08:01:00.000Z", "ThresholdExceeded", "HighLatency"),
            ("2026-03-02T08:02:00.000Z", "AlertCreated", "PerformanceAnomaly"),
            ("2026-03-02T08:02:00.000Z", "PerformanceAnomaly", "PerformanceAnomaly"),
            ("2026-03-02T09:30:00.000Z", "AlertResolved", "PerformanceAnomaly"),
        ],
        key=lambda row: (row[0], next(e["id"] for e in events if (e["time"], e["type"]) == row[:2])),
    )
    assert document(response)["next_page_token"] is None
    assert {e["source"] for e in events} == {"monitoring-receiver"}


def test_filters_select_by_type_aggregate_correlation_and_time(populated: Receiver) -> None:
    events = document(populated.client.get(URL))["events"]
    anomaly = next(e for e in events if e["type"] == "PerformanceAnomaly")

    def ids(**params: str) -> list[str]:
        response = populated.client.get(URL, query_string=params)
        assert response.status_code == 200, response.json
        return [e["id"] for e in document(response)["events"]]

    assert len(ids(type="ThresholdExceeded")) == 2
    assert len(ids(source="monitoring-receiver")) == 7
    assert ids(source="monitoring-exporter") == []
    same_alert = ids(aggregate=anomaly["aggregateid"])
    assert len(same_alert) == 3
    assert ids(correlation_id=anomaly["correlationid"]) == same_alert
    assert len(ids(**{"from": "2026-03-02T08:01:00Z", "to": "2026-03-02T08:02:00Z"})) == 2
    assert len(ids(**{"from": "2026-03-02T09:00:00+00:00"})) == 1
    assert len(ids(to="2026-03-02T08:00:00.001Z")) == 2


def test_pages_follow_the_token_and_cover_every_event_once(populated: Receiver) -> None:
    seen: list[str] = []
    token: str | None = None
    for _ in range(10):
        params = {"limit": "3", **({"page_token": token} if token else {})}
        page = document(populated.client.get(URL, query_string=params))
        assert len(page["events"]) <= 3
        seen += [e["id"] for e in page["events"]]
        token = page["next_page_token"]
        if token is None:
            break
    everything = [e["id"] for e in document(populated.client.get(URL))["events"]]
    assert seen == everything
    assert len(seen) == 7


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"kind": "x"}, "unknown", "unknown query parameters: kind"),
        ({"type": "AlertExploded"}, "type", "type: 'AlertExploded' is not in the event catalogue"),
        ({"from": "yesterday"}, "from", "from: 'yesterday' is not an RFC 3339 time"),
        ({"to": "2026-03-02T08:00:00"}, "to", "to: '2026-03-02T08:00:00' has no time zone"),
        ({"from": "2026-03-02T09:00:00Z", "to": "2026-03-02T08:00:00Z"}, "from", "from must be earlier than to"),
        ({"limit": "ten"}, "limit", "limit: 'ten' is not an integer"),
        ({"limit": "0"}, "limit", "limit: 0 is out of range; expected 1..1000"),
        ({"limit": "1001"}, "limit", "limit: 1001 is out of range"),
        ({"page_token": "%%%"}, "page_token", "page_token: invalid page token"),
        ({"aggregate": ""}, "aggregate", "aggregate: expected a non-empty string"),
        ({"source": "x" * 2000}, "source", "source: expected a non-empty string of at most 1024 characters"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it_and_is_counted(
    tmp_path: Path, params: dict[str, str], parameter: str, message: str
) -> None:
    r = receiver_with_events(tmp_path)
    response = r.client.get(URL, query_string=params)
    assert response.status_code == 400
    assert message in document(response)["error"]
    assert r.metric("receiver_event_queries_rejected_total", parameter=parameter) == 1


def test_with_no_events_yet_the_list_is_empty(tmp_path: Path) -> None:
    response = receiver_with_events(tmp_path).client.get(URL)
    assert response.status_code == 200
    assert response.json == {"events": [], "next_page_token": None}


def test_an_unreadable_event_store_is_a_503_not_a_500(tmp_path: Path) -> None:
    (tmp_path / "store-is-a-directory").mkdir()
    r = build_receiver(tmp_path, {"RECEIVER_EVENT_STORE_PATH": str(tmp_path / "store-is-a-directory")})
    response = r.client.get(URL)
    assert response.status_code == 503
    assert response.json == {"error": "event store unavailable; retry later"}


def test_with_domain_events_off_no_events_are_written_and_the_api_says_so(tmp_path: Path) -> None:
    r = build_receiver(tmp_path, {"RECEIVER_DOMAIN_EVENTS": "off"})
    assert r.client.post(WEBHOOK, data=body(kinded("DiskFull", "threshold"))).status_code == 200
    assert r.app.extensions["domain_events"] is None
    response = r.client.get(URL)
    assert response.status_code == 404
    assert "RECEIVER_DOMAIN_EVENTS" in document(response)["error"]


def test_the_outbox_backlog_and_relayed_counts_are_metrics(tmp_path: Path) -> None:
    r = receiver_with_events(tmp_path)
    assert r.client.post(WEBHOOK, data=body(kinded("DiskFull", "threshold"))).status_code == 200
    r.clock.advance(42)
    text = r.client.get("/metrics").get_data(as_text=True)
    assert 'receiver_domain_events_pending{stage="published"} 2.0' in text
    assert 'receiver_domain_events_oldest_pending_age_seconds{stage="stored"} 42.0' in text
    relay(r).relay().run_once()
    text = r.client.get("/metrics").get_data(as_text=True)
    assert 'receiver_domain_events_pending{stage="published"} 0.0' in text
    assert 'receiver_domain_events_oldest_pending_age_seconds{stage="stored"} 0.0' in text
    assert r.metric("receiver_domain_events_relayed_total", stage="published") == 2
    assert r.metric("receiver_domain_events_relayed_total", stage="stored") == 2


def test_a_store_that_fails_is_counted_and_its_events_stay_pending(tmp_path: Path) -> None:
    (tmp_path / "store-is-a-directory").mkdir()
    r = build_receiver(tmp_path, {"RECEIVER_EVENT_STORE_PATH": str(tmp_path / "store-is-a-directory")})
    assert r.client.post(WEBHOOK, data=body(kinded("DiskFull", "anomaly"))).status_code == 200
    relay(r).relay().publish_once()
    relay(r).relay().store_once()
    assert r.metric("receiver_domain_event_relay_failures_total", stage="stored") == 1
    assert r.metric("receiver_domain_events_relayed_total", stage="published") == 2
    text = r.client.get("/metrics").get_data(as_text=True)
    assert 'receiver_domain_events_pending{stage="stored"} 2.0' in text


def test_an_event_that_cannot_be_built_is_counted_and_stays_pending(tmp_path: Path) -> None:
    r = receiver_with_events(tmp_path)
    outbox = relay(r).outbox
    orphan = Deferred("e-orphan", "AlertCreated", 999_999, "ffff", None, None)  # its alert is not there
    with r.app.extensions["database"].connect() as conn:
        outbox.add_deferred(conn, [orphan], r.clock())
    assert r.client.post(WEBHOOK, data=body(kinded("DiskFull", "threshold"))).status_code == 200
    relay(r).relay().run_once()
    assert r.metric("receiver_domain_events_unbuildable_total", stage="published") == 1
    assert r.metric("receiver_domain_events_unbuildable_total", stage="stored") == 0  # parked for both stages
    assert r.metric("receiver_domain_events_relayed_total", stage="stored") == 2  # the others went on
    text = r.client.get("/metrics").get_data(as_text=True)
    assert 'receiver_domain_events_pending{stage="stored"} 1.0' in text
