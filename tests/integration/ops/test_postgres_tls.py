"""PostgreSQL over TLS: the receiver's connections verify the server against the CA in the URI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from receiver.store.database import DatabaseUnavailable, PostgresDatabase
from tests import services
from tests.integration.ops.certificates import TestAuthority

PGBIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture
def tls_postgres(tmp_path: Path) -> Iterator[tuple[int, TestAuthority]]:
    """A private PostgreSQL cluster with ssl=on and a certificate from a test CA."""
    if not (PGBIN / "initdb").exists():
        raise services.ServiceMissing("PostgreSQL 15 binaries missing: run `make services`")
    authority = TestAuthority(tmp_path, "postgres")
    issued = authority.issue("server")
    data = Path(tempfile.mkdtemp(prefix="monitoring-tls-pg-", dir="/var/tmp"))  # reachable by the postgres user
    shutil.copy(issued.cert, data / "server.crt")
    shutil.copy(issued.key, data / "server.key")
    cluster = data / "cluster"
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        for name in ("server.crt", "server.key"):
            shutil.chown(data / name, "postgres", "postgres")
    (data / "server.key").chmod(0o600)
    port = services.free_port()
    subprocess.run(
        _as_postgres([str(PGBIN / "initdb"), "-D", str(cluster), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} -c fsync=off "
        f"-c ssl=on -c ssl_cert_file={data / 'server.crt'} -c ssl_key_file={data / 'server.key'}"
    )
    subprocess.run(
        _as_postgres(
            [str(PGBIN / "pg_ctl"), "-D", str(cluster), "-l", str(data / "server.log"), "-w", "-o", options, "start"]
        ),
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield port, authority
    finally:
        subprocess.run(
            _as_postgres([str(PGBIN / "pg_ctl"), "-D", str(cluster), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)


def uri(port: int, ca_file: Path) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={ca_file}"


def test_a_client_trusting_the_servers_ca_connects_over_tls_and_one_trusting_another_ca_is_refused(
    tls_postgres: tuple[int, TestAuthority], tmp_path: Path
) -> None:
    port, authority = tls_postgres
    stranger = TestAuthority(tmp_path, "stranger")
    with psycopg.connect(uri(port, authority.ca_file)) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (True,)
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(uri(port, stranger.ca_file), connect_timeout=5)

    trusted = PostgresDatabase(uri(port, authority.ca_file))
    untrusted = PostgresDatabase(uri(port, stranger.ca_file), connect_timeout=2)
    try:
        trusted.ping()  # the receiver's pool passes the URI's TLS options through
        with pytest.raises(DatabaseUnavailable):
            untrusted.ping()
    finally:
        trusted.close()
        untrusted.close()
