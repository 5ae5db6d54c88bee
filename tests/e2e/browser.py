"""Debian's headless Chromium driven by Selenium through /usr/bin/chromedriver (no driver download)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from tests import services

ARTIFACTS = Path(__file__).resolve().parents[2] / ".cache" / "artifacts"  # screenshots (git-ignored)


@contextmanager
def headless_chromium() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = services.binary("chromium", "chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(services.binary("chromedriver", "chromium-driver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
