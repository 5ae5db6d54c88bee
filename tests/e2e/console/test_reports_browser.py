"""The console's Reports page in a real headless Chromium: a real receiver (gunicorn, PostgreSQL) over
the hand-computed week of tests/alert_quality.py, signed in with a viewer key.

The charts are inline SVG under the console's Content-Security-Policy (no script at all): the browser
must lay them out (non-zero boxes), report no CSP violation, and the figures on the page are the
week's. Screenshot: .cache/artifacts/console-reports.png.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from receiver.store.api_keys import Role
from receiver.store.database import PostgresDatabase
from receiver.store.sql_history import SqlAlertHistory
from tests import services
from tests.alert_quality import seed
from tests.credentials import provision_key
from tests.processes import ServerProcess

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / ".cache" / "artifacts"
WEEK = "since=2026-03-02&until=2026-03-09"


@pytest.fixture
def receiver(postgres_uri: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(the receiver's URL, a viewer key) for a receiver whose history is the seeded week."""
    database = PostgresDatabase(postgres_uri)
    history = SqlAlertHistory(database)
    history.migrate()
    seed(history)
    database.close()
    port = services.free_port()
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    env = {
        **{k: os.environ[k] for k in keep if k in os.environ},
        "POSTGRES_URI": postgres_uri,
        "RECEIVER_PORT": str(port),
        "RECEIVER_WORKERS": "2",
        "RECEIVER_WEBHOOK_TOKEN": "reports-test-token",
        "RECEIVER_DELIVERY": "off",
        "RECEIVER_DEADMANS_SWITCH": "false",
        "RETENTION_ALERTS": "3650d",  # the week is March 2026: keep it from the receiver's purge
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
    }
    key = provision_key(env, Role.VIEWER)
    process = ServerProcess("receiver", [sys.executable, "-m", "ops.cli", "receiver"], tmp_path, env)
    try:
        process.wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield f"http://127.0.0.1:{port}", key
    finally:
        process.stop()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = services.binary("chromium", "chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(services.binary("chromedriver", "chromium-driver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_viewer_reads_the_weeks_alert_quality_with_charts_drawn_under_the_csp(
    receiver: tuple[str, str], browser: webdriver.Chrome
) -> None:
    url, key = receiver
    wait = WebDriverWait(browser, 15)
    browser.get(f"{url}/console/reports?{WEEK}")  # no key yet: the console asks for one
    wait.until(expected_conditions.presence_of_element_located((By.ID, "key"))).send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "report-form")))
    browser.get(f"{url}/console/reports?{WEEK}")
    totals = wait.until(expected_conditions.presence_of_element_located((By.ID, "report-totals"))).text
    assert "15 pages" in totals.replace("\n", " ")
    assert "9 alerts fired" in totals.replace("\n", " ")
    assert "1 fired again · 4 incidents" in totals.replace("\n", " ")
    for chart in ("pages-per-day", "pages-by-hour", "fates", "durations", "noisiest"):
        svg = browser.find_element(By.CSS_SELECTOR, f"#chart-{chart} svg[role=img]")
        assert svg.size["width"] > 600, chart
        assert svg.size["height"] > 40, chart
    bars = browser.find_elements(By.CSS_SELECTOR, "#chart-pages-per-day svg[role=img] rect")
    assert len(bars) == 7  # Mon 2 kinds, Wed, Thu, Fri, Sat, Sun
    critical = browser.find_element(By.CSS_SELECTOR, 'tr.group-row[data-group="critical"]').text
    assert critical.split()[:5] == ["critical", "5", "2", "2", "1"]
    logs: list[dict[str, str]] = browser.get_log("browser")  # type: ignore[no-untyped-call]  # selenium leaves it untyped
    violations = [e for e in logs if "Content Security Policy" in e["message"]]
    assert violations == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")  # no script of the page's: the driver's
    browser.set_window_size(1280, int(height) + 40)
    screenshot = ARTIFACTS / "console-reports.png"
    browser.save_screenshot(str(screenshot))
    print(f"reports screenshot: {screenshot}")
    assert screenshot.stat().st_size > 0
