"""The alert console's pages on the receiver app (SQLite, fake channels, fixed clock)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from receiver.delivery.message import duration_text
from receiver.web.console import CSRF_COOKIE, deadline_of
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.receiver.fakes import alert, body

URL = "/api/v1/alerts/alertmanager"


def fire(r: Receiver, *alerts: dict[str, object]) -> None:
    assert r.client.post(URL, data=body(*alerts)).status_code == 200
    r.worker.drain()


def only_id(r: Receiver) -> int:
    alerts = r.client.get("/api/v1/alerts").json["alerts"]  # type: ignore[index]
    return int(alerts[0]["id"])


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_active_alerts_are_grouped_by_priority_with_age_and_deadline(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"), alert("SlowQueries", "medium", service="db"))
    r.clock.advance(125)
    page = r.client.get("/console/").get_data(as_text=True)
    critical = page[page.index('id="priority-critical"') : page.index('id="priority-high"')]
    medium = page[page.index('id="priority-medium"') : page.index('id="priority-low"')]
    assert "DiskFull" in critical
    assert "SlowQueries" not in critical
    assert "SlowQueries" in medium
    assert "2m 5s" in critical  # age since first seen
    assert "in 2m 55s" in critical  # critical: 5 minutes to acknowledge
    assert "in 23h 57m" in medium  # medium: a day


def test_an_overdue_alert_is_marked_overdue_with_its_escalations(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"))
    r.clock.advance(420)
    page = r.client.get("/console/").get_data(as_text=True)
    assert "overdue 2m</span>" in page
    r.worker.drain()  # the receiver escalates it
    page = r.client.get("/console/").get_data(as_text=True)
    assert "overdue 2m (escalated 1&times;)</span>" in page


def test_a_label_with_a_script_tag_renders_escaped(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    evil = "<script>alert(1)</script>"
    fire(r, alert("Injected", "high", service=evil, annotations={"summary": evil, "description": f'"{evil}'}))
    pages = [r.client.get("/console/"), r.client.get("/console/history"), r.client.get(f"/console/alerts/{only_id(r)}")]
    for response in pages:
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_history_filters_by_priority_status_and_alert_name(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"), alert("SlowQueries", "medium", service="db"))
    fire(r, alert("DiskFull", "critical", status="resolved"))

    def names(query: str) -> list[str]:
        page = r.client.get(f"/console/history?{query}").get_data(as_text=True)
        return re.findall(r'<a href="/console/alerts/\d+">([^<]+)</a>', page)

    assert sorted(names("")) == ["DiskFull", "SlowQueries"]
    assert names("priority=medium") == ["SlowQueries"]
    assert names("status=resolved") == ["DiskFull"]
    assert names("alertname=SlowQueries&window=all") == ["SlowQueries"]
    assert names("service=db") == ["SlowQueries"]
    r.clock.advance(7200)
    assert names("window=1h") == []


def test_a_bad_history_filter_is_a_clear_400(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    response = r.client.get("/console/history?priority=urgent")
    assert response.status_code == 400
    assert "priority: expected critical, high, medium or low" in response.get_data(as_text=True)


def test_acknowledging_from_the_console_records_who_and_shows_it_in_the_timeline(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"))
    alert_id = only_id(r)
    r.clock.advance(60)
    page = r.client.get(f"/console/alerts/{alert_id}").get_data(as_text=True)
    assert 'data-kind="notified"' in page
    response = r.client.post(
        f"/console/alerts/{alert_id}/ack", data={"csrf_token": csrf_token(page), "who": "alice", "comment": "on it"}
    )
    assert response.status_code == 303
    detail = r.client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-kind="acknowledged"' in detail
    assert "Acknowledged by alice" in detail
    assert "on it" in detail
    assert r.client.get(f"/api/v1/alerts/{alert_id}").json["acknowledgedBy"] == "alice"  # type: ignore[index]
    r.clock.advance(3600)
    r.worker.drain()
    assert r.metric("receiver_escalations_total") == 0


def test_an_acknowledgement_without_the_form_token_is_refused(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"))
    alert_id = only_id(r)
    r.client.get(f"/console/alerts/{alert_id}")  # sets the cookie
    forged = r.client.post(f"/console/alerts/{alert_id}/ack", data={"csrf_token": "guess", "who": "mallory"})
    assert forged.status_code == 403
    assert r.client.get(f"/api/v1/alerts/{alert_id}").json["acknowledgedBy"] is None  # type: ignore[index]


def test_an_acknowledgement_from_another_origin_is_refused(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("DiskFull", "critical"))
    alert_id = only_id(r)
    token = csrf_token(r.client.get(f"/console/alerts/{alert_id}").get_data(as_text=True))
    assert r.client.get_cookie(CSRF_COOKIE, path="/console") is not None
    response = r.client.post(
        f"/console/alerts/{alert_id}/ack",
        data={"csrf_token": token, "who": "mallory"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403


def test_an_unknown_alert_is_a_404_page(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    assert r.client.get("/console/alerts/999").status_code == 404


def test_durations_show_the_two_largest_units() -> None:
    assert [duration_text(s) for s in (0, 12, 250, 7500, 3 * 86400 + 4 * 3600 + 5)] == [
        "0s",
        "12s",
        "4m 10s",
        "2h 5m",
        "3d 4h",
    ]


def test_low_priority_alerts_have_no_deadline(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("Housekeeping", "low"))
    page = r.client.get("/console/").get_data(as_text=True)
    assert "none (planned work)" in page
    record = r.app.extensions["receiver"].history.alert(only_id(r))[0]
    assert deadline_of(record, None, r.clock.now).state == "none"


@pytest.mark.parametrize(
    ("env", "annotations", "expected"),
    [
        (
            {"RECEIVER_EXTERNAL_URL": "https://alerts.example", "RECEIVER_GRAFANA_URL": "https://grafana.example"},
            {"runbook_url": "/runbooks/servicedown", "dashboard_url": "/d/system-status?viewPanel=2"},
            {
                "runbook": "https://alerts.example/runbooks/servicedown",
                "dashboard": "https://grafana.example/d/system-status?viewPanel=2&amp;from=",
                "graph": "http://prometheus.example/graph",
            },
        ),
        (
            {},
            {"runbook_url": "https://wiki.example/rb", "dashboard_url": "/d/x"},
            {"runbook": "https://wiki.example/rb", "graph": "http://prometheus.example/graph"},
        ),
    ],
    ids=["configured bases", "no bases: absolute runbook and graph only"],
)
def test_the_alert_page_links_its_runbook_dashboard_and_graph_as_its_notifications_do(
    tmp_path: Path, env: dict[str, str], annotations: dict[str, str], expected: dict[str, str]
) -> None:
    r = build_receiver(tmp_path, env=env)
    fire(r, alert("ServiceDown", "critical", annotations={"summary": "down", **annotations}))
    page = r.client.get(f"/console/alerts/{only_id(r)}").get_data(as_text=True)
    found = dict(re.findall(r'<a href="([^"]+)" class="alert-link" data-link="(\w+)"', page))
    assert {name: url for url, name in found.items()}.keys() == expected.keys()
    for url, name in found.items():
        assert url.startswith(expected[name]), (name, url)


def test_each_history_row_links_what_its_alert_page_links(tmp_path: Path) -> None:
    env = {"RECEIVER_EXTERNAL_URL": "https://alerts.example", "RECEIVER_GRAFANA_URL": "https://grafana.example"}
    r = build_receiver(tmp_path, env=env)
    links = {"runbook_url": "/runbooks/servicedown", "dashboard_url": "/d/system-status?viewPanel=2"}
    fire(r, alert("ServiceDown", "critical", annotations={"summary": "down", **links}))
    fire(r, alert("Housekeeping", "low", annotations={"runbook_url": "javascript:alert(1)"}))
    history = r.client.get("/console/history").get_data(as_text=True)
    rows = dict(re.findall(r'data-alert-id="(\d+)">(.*?)</tr>', history, re.S))
    assert len(rows) == 2
    pattern = r'<a href="([^"]+)" class="alert-link" data-link="(\w+)"'
    for alert_id, row in rows.items():
        page = r.client.get(f"/console/alerts/{alert_id}").get_data(as_text=True)
        assert re.findall(pattern, row) == re.findall(pattern, page)
    by_name = {re.search(r">(\w+)</a></td>", row).group(1): row for row in rows.values()}  # type: ignore[union-attr]
    assert [name for _, name in re.findall(pattern, by_name["ServiceDown"])] == ["runbook", "dashboard", "graph"]
    # a runbook that is no URL is text in the row too, never a link
    assert '<span class="alert-link" data-link="runbook">Runbook: javascript:alert(1)</span>' in by_name["Housekeeping"]
    assert 'href="javascript:' not in history


def test_a_runbook_that_is_no_url_is_shown_as_text_not_linked(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    fire(r, alert("ServiceDown", "critical", annotations={"runbook_url": "javascript:alert(1)"}))
    page = r.client.get(f"/console/alerts/{only_id(r)}").get_data(as_text=True)
    assert '<span class="alert-link" data-link="runbook">Runbook: javascript:alert(1)</span>' in page
    assert 'href="javascript:' not in page
