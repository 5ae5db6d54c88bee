"""``monitoring report``: the seeded week as tables and as the API's JSON, and bad options refused."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ops import report
from receiver.store.database import SqliteDatabase
from receiver.store.sql_history import SqlAlertHistory
from tests.alert_quality import seed

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "alerts.sqlite3"
    history = SqlAlertHistory(SqliteDatabase(path))
    history.migrate()
    seed(history)
    return {"RECEIVER_SQLITE_PATH": str(path)}


def run(env: dict[str, str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    report.add_arguments(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    code = report.run(parser.parse_args(["report", *argv]), env, out)
    return code, out.getvalue()


def test_the_report_prints_a_table_per_priority_with_the_total_last(env: dict[str, str]) -> None:
    code, text = run(env, "--since", "2026-03-02", "--until", "2026-03-09")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("Alert quality 2026-03-02 00:00 to 2026-03-09 00:00 Asia/Seoul (7 days)")
    header = lines[2].split("  ")
    assert header[0] == "PRIORITY"
    rows = {line.split()[0]: line for line in lines[3:8]}
    assert list(rows) == ["critical", "high", "medium", "low", "all"]
    assert rows["all"].split()[1:5] == ["9", "4", "3", "2"]
    assert "3m / 22m / 22m" in rows["all"]  # to acknowledge: p50, p90, max
    assert "20m / 1h 30m / 1h 30m" in rows["all"]  # to resolve
    assert "INCIDENTS" in header
    assert rows["all"].split()[-7:] == ["1", "4", "15", "3", "6", "100.0", "%"]  # refired, incidents, pages...
    assert rows["medium"].split()[-7:-5] == ["0", "0"]  # no re-fire, no incident
    assert "DiskFull" in text
    assert "26.7 %" in text  # its share of all pages
    assert "QueueStuck" in text.split("FLAPPING ALERT")[1]


def test_json_is_the_apis_document(env: dict[str, str]) -> None:
    code, text = run(env, "--since", "2026-03-02", "--until", "2026-03-09", "--group-by", "channel", "--json")
    assert code == 0
    document = json.loads(text)
    assert {g["group"]: g["pages"]["total"] for g in document["groups"]} == {
        "pagerduty": 9,
        "sms": 6,
        "slack": 0,
        "email": 0,
        "email_digest": 0,
    }
    assert document["totals"]["alertsFired"] == 9


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--tz", "Asia/Busan"), "monitoring report: tz: unknown time zone 'Asia/Busan'"),
        (("--group-by", "team"), "monitoring report: group_by: unknown group 'team'"),
        (("--since", "2026-03-09", "--until", "2026-03-02"), "monitoring report: since: the window is empty"),
    ],
)
def test_a_bad_option_exits_2_naming_it(
    env: dict[str, str], argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(env, *argv)[0] == 2
    assert capsys.readouterr().err.startswith(message)


def test_the_monitoring_command_runs_it(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "report", "--since", "2026-03-02", "--until", "2026-03-09", "--json"],
        env={"PATH": os.environ["PATH"], **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["pages"]["total"] == 15
