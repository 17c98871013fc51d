"""Where the platform may connect on a user's behalf: the one address check shared by a function's
egress proxy (functions/sandbox/egress.py) and outgoing webhooks (webhooks/sending.py).

Only public unicast addresses pass, and the networks an operator allows (a list of CIDRs, e.g.
FUNCTIONS_EGRESS_ALLOW for functions, WEBHOOKS_EGRESS_ALLOW for webhooks). Loopback, private,
shared, link-local (cloud metadata), documentation, multicast and other special ranges are
refused, whatever name resolved to them. A caller resolves a name once (`resolve()`), and then
connects to exactly the address that was checked: a rebinding DNS server gets no second lookup to
answer differently.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

IPv4 = ipaddress.IPv4Network
IPv6 = ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never reachable, whatever the resolver says (unless an allow list names them).
_FORBIDDEN: tuple[tuple[IPv4 | IPv6, str], ...] = tuple(
    (ipaddress.ip_network(network), label)
    for network, label in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible"),
        ("64:ff9b:1::/48", "local NAT64"),
        ("100::/64", "discard"),
        ("2001::/32", "Teredo"),
        ("2001:db8::/32", "documentation"),
        ("2001:10::/28", "ORCHID"),
        ("2001:20::/28", "ORCHID"),
        ("2002::/16", "6to4"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "unique local (private, cloud metadata)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@lru_cache(maxsize=8)
def _allowed(configured: tuple[str, ...]) -> tuple[IPv4 | IPv6, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in configured)


def refusal(address: Address, allow: Iterable[str] = ()) -> str | None:
    """Why nothing may connect to `address`, or None when it may: only public unicast addresses,
    and those in the `allow` networks (CIDRs). IPv4 carried in IPv6 (mapped, NAT64) is judged as
    the IPv4 address it reaches."""
    for network in _allowed(tuple(allow)):
        if address.version == network.version and address in network:
            return None
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return refusal(embedded, allow)
    for network, label in _FORBIDDEN:
        if address.version == network.version and address in network:
            return f"{address} is a {label} address"
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return f"{address} is not a global unicast address"
    if not address.is_global:  # a backstop: Python's view of the special-purpose registries
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True)
class Destination:
    """One checked address of a name: connect to `sockaddr`, nothing else."""

    address: Address
    family: int
    kind: int
    proto: int
    sockaddr: Any


class Unresolvable(Exception):
    """The name has no address (or is not a valid name)."""


class Forbidden(Exception):
    """Every address the name resolves to is refused; the message says why."""


def resolve(host: str, port: int, allow: Iterable[str] = ()) -> list[Destination]:
    """The allowed addresses `host` resolves to (one lookup), in the resolver's order. Raises
    Unresolvable, or Forbidden when none is allowed."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"could not resolve {host!r}: {exc}") from None
    allowed, reasons = [], []
    for family, kind, proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        reason = refusal(address, allow)
        if reason is None:
            allowed.append(Destination(address, family, kind, proto, sockaddr))
        else:
            reasons.append(reason)
    if not allowed:
        raise Forbidden(f"{host}:{port} is not allowed: {'; '.join(sorted(set(reasons))) or 'no address'}")
    return allowed
