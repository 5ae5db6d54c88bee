"""`monitoring backup` and `monitoring restore` against real PostgreSQL, FerretDB and Prometheus."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pymongo
import pytest

from monitoring.eventstore.mongo import MongoEventStore
from ops.backup.archive import Stores, create_backup, read_manifest, restore_backup
from ops.backup.crypto import WrongBackupKey
from ops.backup.errors import RestoreRefused
from ops.backup.mongo import collection_digest
from ops.backup.postgres import table_digest
from receiver.store.api_keys import Role, SqlKeyStore
from receiver.store.audit import SqlAuditLog
from receiver.store.database import PostgresDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.sql_history import SqlAlertHistory
from tests import services
from tests.conftest import fresh_database
from tests.integration.eventstore.test_contract import event
from tests.integration.receiver.test_history_contract import NOW, obs
from tests.processes import start_prometheus

KEY = bytes(range(32))
RECEIVER_TABLES = {"alerts", "timeline", "outbox", "deadmans_switch", "domain_event_outbox", "schema_migrations"}
RECEIVER_TABLES |= {"audit_log", "api_keys"}


@pytest.fixture
def second_postgres_uri(postgres_server_uri: str) -> Iterator[str]:
    with fresh_database(postgres_server_uri) as uri:
        yield uri


def mongo_uri(name: str) -> str:
    return f"{services.mongodb_uri().rstrip('/')}/{name}"


def fill_postgres(uri: str) -> None:
    database = PostgresDatabase(uri)
    try:
        history = SqlAlertHistory(database, SqlEventOutbox(database, clock=lambda: NOW))
        history.migrate()
        for i in range(40):
            history.record([obs(f"Alert{i}", starts_at=NOW - i)], NOW + i * 0.125)
        history.record([obs("Alert3", starts_at=NOW - 3, status="resolved", ends_at=NOW + 100)], NOW + 100)
        audit = SqlAuditLog(database, clock=lambda: NOW)
        SqlKeyStore(database, audit, clock=lambda: NOW).create("ops", Role.OPERATOR, "cli:test", "cli")  # audited
        audit.record("cli:test", "reload", "routing.yml", "cli", "success")
    finally:
        database.close()


def fill_mongo(client: pymongo.MongoClient[dict[str, object]], name: str) -> None:
    store = MongoEventStore(client[name], 30 * 86400.0, now=lambda: datetime.now(UTC))
    store.prepare()
    now = datetime.now(UTC)
    assert store.append([event(n, at=now - timedelta(seconds=n)) for n in range(30)]).inserted == 30


def postgres_state(uri: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(uri) as conn:
        return {table: table_digest(conn, table) for table in sorted(RECEIVER_TABLES)}


def mongo_state(client: pymongo.MongoClient[dict[str, object]], name: str) -> dict[str, tuple[int, str]]:
    return {"events": collection_digest(client[name], "events")}


def test_a_restore_into_empty_stores_reproduces_every_table_and_collection_exactly(
    postgres_uri: str,
    second_postgres_uri: str,
    mongo_client: pymongo.MongoClient[dict[str, object]],
    mongo_database: str,
    tmp_path: Path,
) -> None:
    fill_postgres(postgres_uri)
    fill_mongo(mongo_client, mongo_database)
    restored_mongo = f"{mongo_database}_restored"
    archive = tmp_path / "backup.enc"
    done: list[tuple[str, str]] = []
    try:
        manifest = create_backup(
            archive,
            KEY,
            Stores(postgres_uri=postgres_uri, mongodb_uri=mongo_uri(mongo_database)),
            on_done=lambda action, detail: done.append((action, detail)),
        )
        assert set(manifest["postgres"]["tables"]) >= RECEIVER_TABLES
        assert manifest["postgres"]["tables"]["alerts"]["rows"] == 40
        assert manifest["mongodb"]["collections"]["events"]["documents"] == 30
        assert read_manifest(archive, KEY) == manifest
        assert b"Alert1" not in archive.read_bytes()

        target = Stores(postgres_uri=second_postgres_uri, mongodb_uri=mongo_uri(restored_mongo))
        restore_backup(archive, KEY, target, on_done=lambda action, detail: done.append((action, detail)))

        assert postgres_state(second_postgres_uri) == postgres_state(postgres_uri)
        assert postgres_state(second_postgres_uri)["alerts"][0] == 40
        assert postgres_state(second_postgres_uri)["audit_log"][0] == 2  # the key's creation and the reload
        assert mongo_state(mongo_client, restored_mongo) == mongo_state(mongo_client, mongo_database)
        assert [action for action, _ in done] == ["backup", "restore"]
        assert "30 documents" in done[0][1]

        # the restored history keeps working: its sequences continue after the restored ids
        database = PostgresDatabase(second_postgres_uri)
        try:
            assert SqlAlertHistory(database).record([obs("AfterRestore")], NOW + 500).new == 1
        finally:
            database.close()

        with pytest.raises(RestoreRefused, match="--force"):
            restore_backup(archive, KEY, target)
        restore_backup(archive, KEY, target, force=True)
        assert postgres_state(second_postgres_uri) == postgres_state(postgres_uri)
    finally:
        mongo_client.drop_database(restored_mongo)


def monitoring_cli(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *argv],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_backs_up_with_a_key_file_and_a_restore_with_a_wrong_key_exits_non_zero_touching_nothing(
    postgres_uri: str, tmp_path: Path
) -> None:
    fill_postgres(postgres_uri)
    archive = tmp_path / "backup.enc"
    key_file = tmp_path / "backup.key"
    key_file.write_text(KEY.hex() + "\n")
    made = monitoring_cli(["backup", "--out", str(archive)], POSTGRES_URI=postgres_uri, BACKUP_KEY_FILE=str(key_file))
    assert (made.returncode, made.stderr) == (0, "")
    with psycopg.connect(postgres_uri) as conn:  # every table of the receiver's schema, whatever migrations add
        [(tables,)] = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE 'metric%'"
        ).fetchall()
    assert f"{tables} tables" in made.stdout
    with psycopg.connect(postgres_uri) as conn:  # the backup is audited, as the operating-system user
        rows = conn.execute(
            "SELECT actor, action, source, outcome, target FROM audit_log WHERE action = 'backup'"
        ).fetchall()
    assert [(actor.startswith("cli:"), action, source, outcome) for actor, action, source, outcome, _ in rows] == [
        (True, "backup", "cli", "success")
    ]
    assert rows[0][4] == str(archive)
    assert read_manifest(archive, KEY)["postgres"]["tables"]["alerts"]["rows"] == 40
    with pytest.raises(WrongBackupKey):
        read_manifest(archive, bytes(32))
    done = monitoring_cli(["restore", str(archive)], POSTGRES_URI=postgres_uri, BACKUP_KEY=bytes(32).hex())
    assert done.returncode == 1
    assert "backup key does not match" in done.stderr
    assert postgres_state(postgres_uri)["alerts"][0] == 40  # nothing was touched


def query(port: int, promql: str, at: float) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql, "time": at})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_a_prometheus_snapshot_is_archived_and_restores_into_a_working_tsdb(tmp_path: Path) -> None:
    binary = services.binary("prometheus", "prometheus")
    source_dir, restored_dir = tmp_path / "source", tmp_path / "restored"
    source_dir.mkdir()
    restored_dir.mkdir()
    port = services.free_port()
    config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""
    source = start_prometheus(binary, config, source_dir, port, "--web.enable-admin-api")
    archive = tmp_path / "backup.enc"
    try:
        deadline = time.monotonic() + 30
        at = time.time()
        while time.monotonic() < deadline:
            at = time.time()
            samples = query(port, 'count_over_time(up{job="self"}[5m])', at)
            if samples and int(str(samples[0]["value"][1])) >= 3:  # type: ignore[index]
                break
            time.sleep(0.5)
        expected = query(port, 'count_over_time(up{job="self"}[5m])', at)
        assert expected, source.log_tail()
        create_backup(
            archive,
            KEY,
            Stores(prometheus_url=f"http://127.0.0.1:{port}", prometheus_data=source_dir / "tsdb"),
        )
    finally:
        source.stop()
    assert not list((source_dir / "tsdb" / "snapshots").iterdir())  # the snapshot was removed once archived
    restore_backup(archive, KEY, Stores(prometheus_data=restored_dir / "tsdb"))
    restored_port = services.free_port()
    restored = start_prometheus(binary, "global: {scrape_interval: 1m}\n", restored_dir, restored_port)
    try:
        assert query(restored_port, 'count_over_time(up{job="self"}[5m])', at) == expected
    finally:
        restored.stop()
    with pytest.raises(RestoreRefused, match="not empty"):
        restore_backup(archive, KEY, Stores(prometheus_data=restored_dir / "tsdb"))
