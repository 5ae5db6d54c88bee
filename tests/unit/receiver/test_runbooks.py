"""The runbook pages every notification links to: one per alert, public, under the console's CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from receiver.delivery.deadmans_switch import ALERTNAME
from receiver.web.runbooks import load, slug_of
from tests.unit.receiver.conftest import Receiver, build_receiver

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(
    {
        rule["alert"]
        for group in yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    | {ALERTNAME}  # raised by the receiver itself
)


@pytest.fixture(scope="module")
def r(tmp_path_factory: pytest.TempPathFactory) -> Receiver:
    return build_receiver(tmp_path_factory.mktemp("runbooks"))


@pytest.mark.parametrize("alertname", SHIPPED)
def test_every_shipped_alert_has_a_runbook_page_anyone_can_open(r: Receiver, alertname: str) -> None:
    page = r.anonymous.get(f"/runbooks/{alertname.lower()}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'<h1 id="runbook-title">Runbook: {alertname}</h1>' in text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_alerts_that_share_a_section_share_its_text_and_markdown_is_rendered() -> None:
    runbooks = load()
    cpu, memory, disk = (runbooks.pages[name] for name in ("hosthighcpu", "hosthighmemory", "hostdiskalmostfull"))
    assert cpu.html == memory.html == disk.html
    assert "Find the process responsible" in cpu.html
    assert "<code>up == 0</code>" in runbooks.pages["servicedown"].html
    assert set(runbooks.pages) == {a.lower() for a in SHIPPED}


def test_the_index_lists_every_runbook_and_an_unknown_one_is_a_404(r: Receiver) -> None:
    index = r.anonymous.get("/runbooks/")
    assert index.status_code == 200
    assert index.get_data(as_text=True).count('<li><a href="/runbooks/') == len(SHIPPED)
    missing = r.anonymous.get("/runbooks/<script>nope")
    assert missing.status_code == 404
    assert "No runbook for &lt;script&gt;nope." in missing.get_data(as_text=True)


def test_raw_html_in_a_runbook_is_shown_as_text_and_unsafe_links_are_not_links(tmp_path: Path) -> None:
    source = tmp_path / "runbooks.md"
    source.write_text(
        "# Runbooks\n\nIntro.\n\n## One\n## Two\n<script>alert(1)</script> [x](javascript:alert(1)) "
        "[ok](https://ok.example)\n\n```\n## not a heading\n```\n"
    )
    runbooks = load(source)
    assert set(runbooks.pages) == {"one", "two"}
    html = runbooks.pages["one"].html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://ok.example">ok</a>' in html
    assert "## not a heading" in html
    assert runbooks.title == "Runbooks"
    assert "Intro." in runbooks.intro_html


def test_a_section_address_is_its_headings_github_anchor() -> None:
    assert slug_of("ServiceDown") == "servicedown"
    assert slug_of(" Dead man's switch ") == "dead-mans-switch"
