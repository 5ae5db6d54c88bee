"""Where the real services are, and how tests reach them.

Each address comes from the usual environment variable when it is set (so the suite can
run against a managed Kafka or a real MongoDB) and otherwise from the local services that
`make services` starts. An unreachable service fails the test with a message that says
how to start it; nothing is ever skipped.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
from pathlib import Path

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


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_PORTS = random.SystemRandom()  # from the OS: parallel test workers pick apart
PORT_LOW = 20000


def free_port() -> int:
    """A loopback port nothing listens on, taken below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` is an ephemeral one, and between this check and the
    server's own bind any outgoing connection (a Kafka client, an HTTP request of a parallel test
    worker) may take it as its local port: Prometheus then failed with "address already in use".
    Ports below the range are never given to outgoing connections."""
    high = max(_ephemeral_low(), PORT_LOW + 1000)
    for _ in range(500):
        port = _PORTS.randrange(PORT_LOW, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port in {PORT_LOW}-{high}")
