"""TLS to the event store (FerretDB's TLS listener, MongoDB wire) and to Kafka (an SSL listener with a
PEM keystore): a client that trusts the test CA connects, one that trusts another CA is refused."""

from __future__ import annotations

import gc
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from monitoring.event_publisher import EventPublisher
from monitoring.settings import KafkaSecurity
from tests import services
from tests.integration.eventstore.test_contract import event
from tests.integration.ops.certificates import Issued, TestAuthority
from tests.private_services import PrivateFerretDB, PrivateKafka

# pymongo's monitor threads can drop a TLS socket they were opening while the client closes ("it
# will be closed when checked in", pymongo/synchronous/monitor.py): its SSLSocket is then collected
# unclosed, a ResourceWarning raised in a finaliser. It is pymongo's, at close, not the event store's
# long-lived client; mongo_ping waits the threads out and collects here so it cannot land elsewhere.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket:pytest.PytestUnraisableExceptionWarning"
)


class TlsFerretDB(PrivateFerretDB):
    """A private FerretDB that also listens for TLS on ``tls_port``."""

    def __init__(self, workdir: Path, issued: Issued) -> None:
        super().__init__(workdir)
        self.tls_port = services.free_port()
        self._issued = issued

    def start(self) -> None:
        self._launch([
            str(self.binary), "--handler=sqlite", f"--sqlite-url=file:{self.workdir / 'ferretdb'}/",
            f"--listen-addr=127.0.0.1:{self.port}", f"--listen-tls=127.0.0.1:{self.tls_port}",
            f"--listen-tls-cert-file={self._issued.cert}", f"--listen-tls-key-file={self._issued.key}",
            "--debug-addr=-", "--telemetry=disable", "--log-level=warn", f"--state-dir={self.workdir / 'ferretdb'}",
        ])  # fmt: skip
        self._wait(self._ready, 30)


class TlsKafka(PrivateKafka):
    """A private broker with an extra SSL listener on ``ssl_port`` (PEM keystore, Kafka >= 2.7)."""

    def __init__(self, workdir: Path, issued: Issued) -> None:
        super().__init__(workdir)
        self.ssl_port = services.free_port()
        keystore = workdir / "keystore.pem"
        keystore.write_text(issued.chain_and_key)
        text = self.config.read_text()
        listeners = next(line for line in text.splitlines() if line.startswith("listeners="))
        advertised = next(line for line in text.splitlines() if line.startswith("advertised.listeners="))
        text = text.replace(listeners, f"{listeners},SSL://127.0.0.1:{self.ssl_port}")
        text = text.replace(advertised, f"{advertised},SSL://127.0.0.1:{self.ssl_port}")
        text = text.replace("listener.security.protocol.map=", "listener.security.protocol.map=SSL:SSL,")
        self.config.write_text(f"{text}\nssl.keystore.type=PEM\nssl.keystore.location={keystore}\n")


@pytest.fixture
def authorities(tmp_path: Path) -> tuple[TestAuthority, TestAuthority]:
    return TestAuthority(tmp_path, "servers"), TestAuthority(tmp_path, "stranger")


@pytest.fixture
def tls_ferretdb(tmp_path: Path, authorities: tuple[TestAuthority, TestAuthority]) -> Iterator[TlsFerretDB]:
    server = TlsFerretDB(tmp_path, authorities[0].issue("ferretdb"))
    server.start()
    yield server
    server.stop()


def mongo_ping(uri: str) -> Any:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        return client.get_default_database("monitoring").command("ping")
    finally:
        client.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            thread.name.startswith("pymongo_server_") for thread in threading.enumerate()
        ):
            time.sleep(0.05)
        gc.collect()


def test_the_event_store_client_verifies_the_mongodb_servers_certificate(
    tls_ferretdb: TlsFerretDB, authorities: tuple[TestAuthority, TestAuthority]
) -> None:
    trusted, stranger = authorities
    base = f"mongodb://127.0.0.1:{tls_ferretdb.tls_port}/monitoring?tls=true&tlsCAFile="
    assert mongo_ping(base + str(trusted.ca_file))["ok"] == 1.0
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError, match="certificate verify failed"):
        mongo_ping(base + str(stranger.ca_file))


def test_kafka_clients_with_the_ssl_settings_verify_the_brokers_certificate(
    tmp_path: Path, authorities: tuple[TestAuthority, TestAuthority]
) -> None:
    trusted, stranger = authorities
    broker = TlsKafka(tmp_path, trusted.issue("kafka"))
    broker.start()
    try:
        ssl_brokers = f"127.0.0.1:{broker.ssl_port}"
        good = KafkaSecurity(protocol="ssl", ca_file=trusted.ca_file).client_config()
        bad = KafkaSecurity(protocol="ssl", ca_file=stranger.ca_file).client_config()
        metadata = AdminClient({"bootstrap.servers": ssl_brokers, **good}).list_topics(timeout=15)
        assert metadata.brokers  # a TLS handshake and a metadata round trip
        errors: list[str] = []
        refused_config: dict[str, Any] = {"bootstrap.servers": ssl_brokers, "log_level": 0, **bad}
        refused_config["error_cb"] = lambda error: errors.append(str(error))
        refused = AdminClient(refused_config)
        with pytest.raises(KafkaException):
            refused.list_topics(timeout=3)
        refused.poll(0.5)  # serve the error callbacks
        assert any("certificate verify failed" in error for error in errors), errors

        publisher = EventPublisher(ssl_brokers, topic=f"tls.{uuid.uuid4().hex[:8]}", extra_config=good)
        try:
            assert publisher.submit([event(1)]) == 1
            delivered: list[str] = []
            deadline = time.monotonic() + 30
            while not delivered and time.monotonic() < deadline:
                publisher.poll(0.2)
                delivered += publisher.take_delivered()
            assert delivered == ["e-0001"]
        finally:
            publisher.close()
    finally:
        broker.stop()
