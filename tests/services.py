"""Where the real services are, and how tests reach them.

Each address comes from the usual environment variable when it is set (so the suite can
run against a managed Kafka or a real MongoDB) and otherwise from the local services that
`make services` starts. An unreachable service fails the test with a message that says
how to start it; nothing is ever skipped.
"""

from __future__ import annotations

import os
import shutil
import socket

LOCAL_POSTGRES = "postgresql://monitoring:monitoring@127.0.0.1:5432/monitoring"
LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_MONGODB = "mongodb://127.0.0.1:27017/"


class ServiceMissing(Exception):
    """A real service the test needs is not reachable."""


def postgres_uri() -> str:
    return os.environ.get("POSTGRES_URI") or LOCAL_POSTGRES


def kafka_brokers() -> str:
    return os.environ.get("KAFKA_BROKERS") or LOCAL_KAFKA


def mongodb_uri() -> str:
    return os.environ.get("MONGODB_URI") or LOCAL_MONGODB


def binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServiceMissing(f"{name} not on PATH: run `make services` (installs Debian package {package})")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
