"""Load and simulated traffic go to this machine only: targets must be loopback addresses."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class NotLoopback(Exception):
    """A target outside 127.0.0.0/8 and ::1; the message names it."""


def require_loopback_host(host: str) -> None:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise NotLoopback(f"{host!r} does not resolve ({exc}); load goes to loopback addresses only") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_loopback:
            raise NotLoopback(
                f"{host!r} resolves to {address}, which is not a loopback address; "
                "load goes to 127.0.0.1, ::1 or localhost only"
            )


def require_loopback_url(url: str) -> None:
    host = urlsplit(url).hostname
    if not host:
        raise NotLoopback(f"{url!r} has no host; expected a loopback URL such as http://127.0.0.1:8080/webhook")
    require_loopback_host(host)


def require_loopback_brokers(brokers: str) -> None:
    for broker in brokers.split(","):
        host = urlsplit("//" + broker.strip().split("://")[-1]).hostname
        if not host:
            raise NotLoopback(f"broker {broker!r} has no host; expected e.g. 127.0.0.1:9092")
        require_loopback_host(host)
