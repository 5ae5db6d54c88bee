"""Fixtures for real services. See tests/services.py for where each service is found."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pymongo
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from psycopg import sql

from tests import services
from tests.sinks import RecordingSink


@pytest.fixture(scope="session")
def postgres_server_uri() -> str:
    uri = services.postgres_uri()
    try:
        with psycopg.connect(uri, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise services.ServiceMissing(f"PostgreSQL not reachable ({exc}): run `make services`") from exc
    return uri


@contextmanager
def fresh_database(server_uri: str) -> Iterator[str]:
    """The URI of a new, empty database on the server, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_uri, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = server_uri.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        drop_database(server_uri, name)


@pytest.fixture
def postgres_uri(postgres_server_uri: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(postgres_server_uri) as uri:
        yield uri


def drop_database(server_uri: str, name: str, attempts: int = 20) -> None:
    """DROP ... WITH (FORCE) ends our own sessions, but it may not end a background process of
    another role (autovacuum, busy after a test that wrote many rows): then end our own sessions
    and DROP without FORCE, which cancels autovacuum itself."""
    forced = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    plain = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    ours = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND usename = current_user"
    for attempt in range(attempts):
        try:
            with psycopg.connect(server_uri, autocommit=True) as admin:
                try:
                    admin.execute(forced)
                except psycopg.errors.InsufficientPrivilege:
                    admin.execute(ours, (name,))
                    admin.execute(plain)
            return
        except psycopg.errors.ObjectInUse:  # a session of ours reconnected in between
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)


@pytest.fixture(scope="session")
def kafka_brokers() -> str:
    brokers = services.kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    try:
        admin.list_topics(timeout=10)
    except Exception as exc:  # librdkafka raises KafkaException with varied codes
        raise services.ServiceMissing(f"Kafka not reachable at {brokers} ({exc}): run `make services`") from exc
    return brokers


@pytest.fixture
def kafka_topic(kafka_brokers: str) -> Iterator[str]:
    """A fresh three-partition topic, deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    name = f"test.{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


@pytest.fixture(scope="session")
def mongo_client() -> Iterator[pymongo.MongoClient[dict[str, object]]]:
    uri = services.mongodb_uri()
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        raise services.ServiceMissing(f"MongoDB-wire server not reachable ({exc}): run `make services`") from exc
    yield client
    client.close()


@pytest.fixture
def mongo_database(mongo_client: pymongo.MongoClient[dict[str, object]]) -> Iterator[str]:
    """A fresh database name, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    mongo_client.drop_database(name)


@pytest.fixture
def sink() -> Iterator[RecordingSink]:
    recording = RecordingSink()
    recording.start()
    yield recording
    recording.stop()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
