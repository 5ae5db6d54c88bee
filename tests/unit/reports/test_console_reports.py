"""The console's Reports page: the figures, the SVG charts (no script), escaping, and bad input."""

from __future__ import annotations

import re
from pathlib import Path

from receiver.store.sql_history import SqlAlertHistory
from receiver.web.console import SECURITY_HEADERS
from tests.alert_quality import Recorder, kst, observation
from tests.unit.receiver.conftest import Receiver, build_receiver
from tests.unit.reports.conftest import WEEK


def page(r: Receiver, **args: str) -> tuple[int, str]:
    response = r.client.get("/console/reports", query_string={**WEEK, **args})
    if response.status_code == 200:
        for header, value in SECURITY_HEADERS.items():
            assert response.headers[header] == value
    return response.status_code, response.get_data(as_text=True)


def test_the_page_shows_the_weeks_figures_and_draws_its_charts_as_inline_svg(seeded: Receiver) -> None:
    status, html = page(seeded)
    assert status == 200
    tiles = html[html.index('id="report-totals"') : html.index("</section>")]
    assert "<strong>15</strong> pages" in tiles
    assert "3 out of hours · 6 on the weekend" in tiles
    assert "<strong>9</strong> alerts fired" in tiles
    assert "1 fired again · 4 incidents" in tiles
    assert "not recorded yet" not in html
    assert "<strong>3m</strong> to acknowledge (p50)" in tiles  # 180 s
    assert "p90 22m · max 22m" in tiles  # 1320 s
    assert "<strong>2</strong> flapping alerts" in tiles
    for chart in ("pages-per-day", "pages-by-hour", "fates", "durations", "noisiest"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg viewBox=") == 5
    assert "<script" not in html
    critical = re.search(r'<tr class="group-row" data-group="critical">(.*?)</tr>', html, re.S)
    assert critical is not None
    cells = re.findall(r"<td>(.*?)</td>", critical.group(1), re.S)
    assert cells[:5] == ["critical", "5", "2", "2", "1"]
    assert cells[10:14] == ["11", "1", "6", "73 %"]
    assert "<title>2026-03-08: 4 page(s) weekend</title>" in html
    assert "<title>Sun 22:00-22:59: 4 page(s)</title>" in html
    assert 'data-group="gateway"' not in html  # grouped by priority


def test_the_form_regroups_and_moves_to_another_time_zone(seeded: Receiver) -> None:
    _, html = page(seeded, group_by="service", tz="UTC")
    assert 'data-group="asset"' in html
    assert "(UTC);" in html
    assert '<option value="service" selected>' in html


def test_alert_names_are_escaped_in_tables_and_chart_labels(tmp_path: Path) -> None:
    r = build_receiver(tmp_path)
    history = r.app.extensions["receiver"].history
    assert isinstance(history, SqlAlertHistory)
    recorder = Recorder(history)
    evil = "<script>alert(1)</script>"
    recorder.fire("X", observation(evil, "fp-x", "critical", evil, kst(3, "09:59")), kst(3, "10:00"))
    recorder.deliver("X", "pagerduty", "trigger", kst(3, "10:00:01"))
    recorder.resolve("X", kst(3, "10:05"), kst(3, "10:06"))
    recorder.fire("X", recorder.observations["X"], kst(3, "11:00"))
    r.clock.now = kst(9, "12:00")
    _, html = page(r, group_by="service")
    assert evil not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_a_bad_time_zone_shows_a_400_page_naming_it(seeded: Receiver) -> None:
    status, html = page(seeded, tz="Asia/Busan")
    assert status == 400
    assert "tz: unknown time zone &#39;Asia/Busan&#39;" in html
    assert seeded.metric("receiver_report_queries_rejected_total", parameter="tz") == 1


def test_every_console_page_links_to_the_reports(seeded: Receiver) -> None:
    html = seeded.client.get("/console/").get_data(as_text=True)
    assert '<a href="/console/reports">Reports</a>' in html


def test_an_empty_window_says_so_instead_of_drawing(seeded: Receiver) -> None:
    status, html = page(seeded, since="2026-04-01", until="2026-04-02")
    assert status == 200
    assert html.count("No pages in this window.") == 5
    assert "No alerts and no pages in this window." in html
