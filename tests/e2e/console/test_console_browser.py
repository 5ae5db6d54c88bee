"""The alert console in a real headless Chromium (Debian's chromium + chromium-driver, Selenium).

A real receiver (gunicorn, two workers, PostgreSQL) gets an alert through Alertmanager's webhook;
the browser sees it listed under its priority, opens it, acknowledges it with the form, and sees
the acknowledgement in the timeline. Screenshots go to .cache/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from receiver.store.api_keys import Role
from tests import services
from tests.credentials import provision_key
from tests.e2e.browser import ARTIFACTS, headless_chromium
from tests.processes import ServerProcess

TOKEN = "console-test-token"


KEYS: dict[str, str] = {}  # receiver URL -> the operator key provisioned for it


def request_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310 - loopback
    base = url.split("/api/", 1)[0]
    request.add_header("Authorization", f"Bearer {TOKEN if body is not None else KEYS[base]}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


@pytest.fixture
def receiver_url(postgres_uri: str, tmp_path: Path) -> Iterator[str]:
    port = services.free_port()
    routing = tmp_path / "routing.yaml"
    routing.write_text("fallback: file\n")
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    env = {
        **{k: os.environ[k] for k in keep if k in os.environ},
        "POSTGRES_URI": postgres_uri,
        "RECEIVER_PORT": str(port),
        "RECEIVER_WORKERS": "2",
        "RECEIVER_WEBHOOK_TOKEN": TOKEN,
        "RECEIVER_POLL_INTERVAL": "100ms",
        "RECEIVER_ROUTING_FILE": str(routing),
        "RECEIVER_FILE_CHANNEL_PATH": str(tmp_path / "notifications.jsonl"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
    }
    KEYS[f"http://127.0.0.1:{port}"] = provision_key(env, Role.OPERATOR)
    process = ServerProcess("receiver", [sys.executable, "-m", "ops.cli", "receiver"], tmp_path, env)
    try:
        process.wait_ready(f"http://127.0.0.1:{port}/readyz", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def webhook(alertname: str, summary: str) -> dict[str, Any]:
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "priority": "critical", "service": "payments-service"},
        "annotations": {"summary": summary},
        "startsAt": "2026-03-02T08:59:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "c0ffee0000000001",
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "priority-critical",
        "groupLabels": {"alertname": alertname},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
        "alerts": [alert],
    }


def wait_until_notified(receiver_url: str, alert_id: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        timeline = request_json(f"{receiver_url}/api/v1/alerts/{alert_id}")["timeline"]
        if any(entry["kind"] == "notified" for entry in timeline):
            return
        time.sleep(0.1)
    raise AssertionError(f"alert {alert_id} was not notified within 20s")


def test_an_operator_sees_a_fired_alert_and_acknowledges_it_in_the_browser(
    receiver_url: str, browser: WebDriver
) -> None:
    stored = request_json(f"{receiver_url}/api/v1/alerts/alertmanager", webhook("PaymentsDown", "<b>payments</b> down"))
    assert stored["new"] == 1
    alert_id = request_json(f"{receiver_url}/api/v1/alerts")["alerts"][0]["id"]
    wait_until_notified(receiver_url, alert_id)
    wait = WebDriverWait(browser, 15)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    browser.get(f"{receiver_url}/console/")  # no key yet: the console asks for one
    wait.until(expected_conditions.presence_of_element_located((By.ID, "key"))).send_keys(KEYS[receiver_url])
    browser.find_element(By.ID, "sign-in").click()
    row = wait.until(
        expected_conditions.presence_of_element_located(
            (By.CSS_SELECTOR, f'table[data-priority="critical"] tr[data-alert-id="{alert_id}"]')
        )
    )
    assert "PaymentsDown" in row.text
    assert "<b>payments</b> down" in row.text  # shown as text, not markup
    assert "in 4m" in row.text  # the critical acknowledgement deadline counts down from 5 minutes
    browser.save_screenshot(str(ARTIFACTS / "console-active.png"))

    row.find_element(By.LINK_TEXT, "PaymentsDown").click()
    wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-form")))
    kinds = [e.get_attribute("data-kind") for e in browser.find_elements(By.CSS_SELECTOR, "tr.timeline-entry")]
    assert "notified" in kinds
    assert "acknowledged" not in kinds
    browser.find_element(By.ID, "ack-who").send_keys("alice")
    browser.find_element(By.ID, "ack-comment").send_keys("looking into it")
    browser.find_element(By.ID, "ack-button").click()

    wait.until(expected_conditions.presence_of_element_located((By.ID, "ack-notice")))
    entry = browser.find_element(By.CSS_SELECTOR, 'tr.timeline-entry[data-kind="acknowledged"]')
    assert "alice" in entry.text
    assert "looking into it" in entry.text
    assert browser.find_elements(By.ID, "ack-form") == []
    screenshot = ARTIFACTS / "console.png"
    browser.save_screenshot(str(screenshot))
    print(f"console screenshot: {screenshot}")
    assert screenshot.stat().st_size > 0
    assert request_json(f"{receiver_url}/api/v1/alerts/{alert_id}")["acknowledgedBy"] == "alice"
