"""Where the receiver may send: the egress policy that channel URLs are checked against.

A configuration must not be able to point the receiver at internal addresses (a cloud metadata
service, an admin port on loopback, the cluster's private network). Every host in a channel URL is
resolved and each address it resolves to is checked, at configuration load and again before every
send (DNS may change in between):

- always denied unless explicitly allowed: loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16,
  which holds the 169.254.169.254 metadata service, and fe80::/10), unspecified, multicast, reserved,
  and the IPv6 metadata address fd00:ec2::254;
- private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) are denied unless
  ``RECEIVER_EGRESS_ALLOW_PRIVATE`` is true or they are explicitly allowed;
- ``RECEIVER_EGRESS_ALLOW`` lists what is explicitly allowed: host names (matched as written in the
  URL), addresses and CIDR ranges, e.g. ``127.0.0.1,sms-gateway.internal,10.20.0.0/16``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


class DestinationDenied(Exception):
    """A channel URL points where the receiver may not send; the message names host and reason."""


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DestinationDenied(f"{host}: cannot be resolved ({exc.strerror})") from None
    return sorted({str(info[4][0]) for info in infos})


def parse_allow_list(raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    entries = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for entry in entries:
        if "/" in entry:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a CIDR range") from None
    return entries


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[str, ...] = ()  # host names, addresses, CIDR ranges explicitly allowed
    allow_private: bool = False
    resolve: Callable[[str, int], Sequence[str]] = field(default=resolve_host, compare=False, repr=False)

    def _networks(self) -> list[IpNetwork]:
        out: list[IpNetwork] = []
        for entry in self.allow:
            try:
                out.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name
        return out

    def check(self, url: str, *, unresolvable_ok: bool = False) -> None:
        """Raise ``DestinationDenied`` unless every address ``url``'s host resolves to may be sent to.
        ``unresolvable_ok``: at configuration load, a host DNS cannot resolve yet is checked at send time."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            raise DestinationDenied("URL has no host")
        if host in self.allow:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        networks = self._networks()
        try:
            addresses = self.resolve(host, port)
        except DestinationDenied:
            if unresolvable_ok:
                return
            raise
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if any(address in network for network in networks):
                continue
            reason = _denied_because(address, self.allow_private)
            if reason is not None:
                raise DestinationDenied(
                    f"{host} resolves to {address}, a {reason} address; "
                    "allow it explicitly with RECEIVER_EGRESS_ALLOW if it is intended"
                )


def _denied_because(address: IpAddress, allow_private: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _denied_because(address.ipv4_mapped, allow_private)
    if address in METADATA:
        return "cloud metadata"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "non-routable"
    if not allow_private and (any(address in network for network in PRIVATE) or address.is_private):
        return "private"
    return None
