"""`monitoring keys create|list|revoke`: the secret is printed once, stored hashed, and every change audited."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from ops import keys as keys_cli
from receiver.store.audit import AuditFilter, SqlAuditLog
from receiver.store.database import SqliteDatabase


def run(env: dict[str, str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    keys_cli.add_arguments(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    code = keys_cli.run(parser.parse_args(["keys", *argv]), env, out)
    return code, out.getvalue()


def test_a_key_is_created_listed_and_revoked_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    env = {"RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3")}
    code, created = run(env, "create", "--name", "grafana", "--role", "viewer")
    assert code == 0
    token = created.split("secret: ", 1)[1].split()[0]
    key_id, secret = token.split(".")
    code, listed = run(env, "list")
    assert [json.loads(line) for line in listed.splitlines()] == [
        {"id": key_id, "name": "grafana", "role": "viewer", "revoked_at": None}
    ]
    assert secret not in listed
    with sqlite3.connect(tmp_path / "alerts.sqlite3") as conn:
        [(stored,)] = conn.execute("SELECT hash FROM api_keys").fetchall()
    assert stored.startswith("sha256$")
    assert secret not in stored
    assert run(env, "revoke", key_id) == (0, f"revoked {key_id}\n")
    assert run(env, "revoke", key_id)[0] == 1
    entries = SqlAuditLog(SqliteDatabase(tmp_path / "alerts.sqlite3"), lambda: 0.0).entries(AuditFilter())
    assert [(e.actor, e.action, e.source) for e in entries] == [
        (f"cli:{getpass.getuser()}", "key.revoke", "cli"),
        (f"cli:{getpass.getuser()}", "key.create", "cli"),
    ]


def test_the_command_is_wired_into_the_monitoring_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "keys", "create", "--name", "x", "--role", "root"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'root'" in result.stderr
