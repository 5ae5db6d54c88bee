"""Bad input to `monitoring rules backtest`: a message naming the file, rule or URL, exit 2, nothing on stdout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ops.cli import main
from tests import services
from tests.backfill import backfilled_prometheus
from tests.integration.rules.conftest import ALERTMANAGER, CONFIG, RULES, History, timeline

pytestmark = pytest.mark.integration


def backtest(capsys: pytest.CaptureFixture[str], url: str, rules: list[Path], *extra: str) -> tuple[int, str, str]:
    code = main(["rules", "backtest", "--rules", *map(str, rules), "--prometheus", url, "--since", "1h", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rule_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edited.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("groups: [\n  {name: g,\n", "edited.yml:3: invalid rule file: invalid YAML"),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: Mine\n        expr: nosuchfunc(up) > 0\n",
            "edited.yml:5: group 'g', alert 'Mine': PromQL: unknown function with name 'nosuchfunc'",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: Mine\n        expr: sum(up\n",
            "edited.yml:5: group 'g', alert 'Mine': PromQL: unclosed left parenthesis",
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: Mine\n        expr: up\n        for: 5 minutes\n",
            "edited.yml:6: group 'g', alert 'Mine': for: not a duration",
        ),
    ],
)
def test_a_rule_file_that_does_not_parse_is_named_with_its_line_and_rule(
    capsys: pytest.CaptureFixture[str], history: History, tmp_path: Path, text: str, message: str
) -> None:
    code, out, err = backtest(capsys, history.url, [rule_file(tmp_path, text)])
    assert (code, out) == (2, "")
    assert message in err
    assert err.startswith("monitoring rules backtest: ")
    assert err.count("\n") == 1


def test_an_alertmanager_file_with_an_unknown_receiver_is_named_with_its_line(
    capsys: pytest.CaptureFixture[str], history: History, tmp_path: Path
) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER.read_text().replace("receiver: priority-medium", "receiver: nobody", 1))
    code, out, err = backtest(capsys, history.url, RULES, "--alertmanager", str(broken))
    assert (code, out) == (2, "")
    assert "alertmanager.yml:" in err
    assert "undefined receiver 'nobody'" in err


def test_a_prometheus_that_is_down_is_named_by_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{services.free_port()}"
    code, out, err = backtest(capsys, url, RULES)
    assert (code, out) == (2, "")
    assert (
        err
        == f"monitoring rules backtest: Prometheus at {url} cannot be reached: connection refused or host unreachable\n"
    )


@pytest.fixture
def old_prometheus() -> Iterator[str]:
    """An HTTP server answering Prometheus's documented buildinfo API as Prometheus 2.20 did (none runs here)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": {"version": "2.20.0", "revision": "x"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()
    server.server_close()


def test_a_prometheus_too_old_is_refused_with_its_version(
    capsys: pytest.CaptureFixture[str], old_prometheus: str
) -> None:
    code, out, err = backtest(capsys, old_prometheus, RULES)
    assert (code, out) == (2, "")
    needs = "the backtest needs 2.33.0 or later"
    assert err == f"monitoring rules backtest: Prometheus at {old_prometheus} is version 2.20.0; {needs}\n"


def test_a_query_past_prometheus_limits_fails_naming_the_rule_and_the_chunk(
    capsys: pytest.CaptureFixture[str], history: History, tmp_path: Path
) -> None:
    with backfilled_prometheus(timeline(history.start), tmp_path, RULES, CONFIG, ("--query.max-samples=500",)) as (
        url,
        _,
    ):
        code, out, err = backtest(
            capsys, url, RULES, "--since", str(history.start), "--until", str(history.start + 7200)
        )
    assert (code, out) == (2, "")
    assert "Prometheus refused its query over" in err
    assert "query processing would load too many samples into memory" in err
    assert "alerts.yml: group '" in err
