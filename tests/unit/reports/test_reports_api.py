"""GET /api/v1/reports/*: the seeded week's figures as JSON, access by role, and every bad parameter a 400."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.store.api_keys import Role
from receiver.store.database import SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from tests import alert_quality as expected
from tests.alert_quality import seed
from tests.credentials import create_key
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.reports.conftest import WEEK


def get(r: Receiver, path: str, **args: str) -> tuple[int, dict[str, object]]:
    response = r.client.get(f"/api/v1/reports/{path}", query_string={**WEEK, **args})
    return response.status_code, response.json  # type: ignore[return-value]


def test_the_summary_gives_the_hand_computed_figures_per_priority(seeded: Receiver) -> None:
    status, body = get(seeded, "summary")
    assert status == 200
    window = body["window"]
    assert window == {
        "since": "2026-03-01T15:00:00Z",
        "until": "2026-03-08T15:00:00Z",
        "days": 7,
        "timeZone": "Asia/Seoul",
        "workingHours": "09:00-18:00",
        "workingDays": ["mon", "tue", "wed", "thu", "fri"],
        "groupBy": "priority",
        "pagingChannels": ["pagerduty", "sms"],
    }
    totals = body["totals"]
    assert isinstance(totals, dict)
    assert [totals[k] for k in ("alertsFired", "acknowledged", "resolvedUnacknowledged", "firingUnacknowledged")] == [
        9,
        4,
        3,
        2,
    ]
    assert (totals["escalations"], totals["deadlinesMissed"], totals["refired"]) == (3, 2, 1)
    assert totals["incidents"] == 4  # opened in the window; I2, merged into I1, not counted
    assert totals["timeToAcknowledge"] == {"count": 4, "p50Seconds": 180.0, "p90Seconds": 1320.0, "maxSeconds": 1320.0}
    assert totals["timeToResolve"] == {"count": 6, "p50Seconds": 1200.0, "p90Seconds": 5400.0, "maxSeconds": 5400.0}
    assert totals["pages"] == {"total": 15, "workingHours": 6, "outOfHours": 3, "weekend": 6}
    groups = {g["group"]: g for g in body["groups"]}  # type: ignore[attr-defined]
    assert list(groups) == ["critical", "high", "medium", "low"]
    assert groups["critical"]["pages"] == {"total": 11, "workingHours": 4, "outOfHours": 1, "weekend": 6}
    assert groups["critical"]["pageShare"] == pytest.approx(11 / 15)
    assert {name: g["incidents"] for name, g in groups.items()} == {"critical": 2, "high": 2, "medium": 0, "low": 0}
    assert body["deadlines"][0] == {  # type: ignore[index]
        "priority": "critical",
        "ackDeadlineSeconds": 300.0,
        "alertsFired": 5,
        "deadlinesMissed": 2,
        "escalations": 3,
    }


def test_the_breakdowns_give_pages_by_day_and_hour_the_noisiest_and_the_flapping_alerts(seeded: Receiver) -> None:
    _, hours = get(seeded, "hours")
    assert {d["date"]: d["outOfHours"] for d in hours["days"]} == {  # type: ignore[attr-defined]
        day: split[1] for day, split in expected.PAGES_PER_DAY.items()
    }
    assert hours["week"]["sun"][22] == 4  # type: ignore[index]
    _, noisiest = get(seeded, "noisiest", top="2")
    assert noisiest["allPages"] == 15
    assert [(a["alertname"], a["pages"]) for a in noisiest["alerts"]] == [("DiskFull", 4), ("PaymentsDown", 4)]  # type: ignore[attr-defined]
    _, flapping = get(seeded, "flapping")
    assert [(a["fingerprint"], a["cycles"]) for a in flapping["alerts"]] == [("fp-disk", 3), ("fp-queue", 2)]  # type: ignore[attr-defined]
    assert flapping["firedAlerts"] == 7
    _, full = get(seeded, "full", group_by="service")
    assert {"totals", "groups", "deadlines", "days", "week", "alerts", "flappingAlerts", "allPages"} <= set(full)


def test_a_viewer_key_may_read_reports(seeded: Receiver) -> None:
    viewer = create_key(seeded.app, Role.VIEWER)
    response = seeded.client.get(
        "/api/v1/reports/summary", query_string=WEEK, headers={"Authorization": f"Bearer {viewer}"}
    )
    assert response.status_code == 200
    assert seeded.anonymous.get("/api/v1/reports/summary").status_code == 401


@pytest.mark.parametrize(
    ("args", "parameter", "message"),
    [
        ({"since": "2026-03-09", "until": "2026-03-02"}, "since", "since: the window is empty"),
        ({"since": "last week"}, "since", "since: expected a duration back from now"),
        ({"group_by": "team"}, "group_by", "group_by: unknown group 'team'"),
        ({"tz": "Asia/Busan"}, "tz", "tz: unknown time zone 'Asia/Busan'"),
        ({"window": "7d"}, "unknown", "window: unknown parameter"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it_and_is_counted(
    seeded: Receiver, args: dict[str, str], parameter: str, message: str
) -> None:
    response = seeded.client.get("/api/v1/reports/summary", query_string=args)
    assert response.status_code == 400
    assert response.json["error"].startswith(message)  # type: ignore[index]
    assert seeded.metric("receiver_report_queries_rejected_total", parameter=parameter) == 1


def test_an_unreadable_history_is_a_503(seeded: Receiver, tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    seeded.app.extensions["reports"].reads = SqlReports(SqliteDatabase(tmp_path / "a-directory"))
    response = seeded.client.get("/api/v1/reports/summary")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_the_routing_policys_paging_channels_decide_what_a_page_is(tmp_path: Path) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text("paging_channels: [pagerduty]\n")
    r = build_receiver(tmp_path, env={"RECEIVER_ROUTING_FILE": str(routing)})
    history = r.app.extensions["receiver"].history
    assert isinstance(history, SqlAlertHistory)
    seed(history)
    _, body = get(r, "summary")
    assert body["window"]["pagingChannels"] == ["pagerduty"]  # type: ignore[index]
    assert body["totals"]["pages"]["total"] == expected.NOTIFICATIONS["pagerduty"]  # type: ignore[index]
