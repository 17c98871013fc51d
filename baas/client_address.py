"""The client's address: the one place that reads X-Forwarded-For.

The TCP peer is the client, unless it is a proxy we trust: FORWARDED_ALLOW_IPS (addresses or
networks) or, for proxies whose addresses are not known in advance, the last
AUTH_TRUSTED_PROXY_COUNT hops. Walking X-Forwarded-For from the right, each entry was written by
the hop after it; an entry is believed only while that hop is trusted, so the answer is the
right-most address not written by the client itself. An entry that is not an IP address (a name,
`unknown`, garbage, an address with a zone) ends the walk: the last trusted hop's address stands.
Ports and brackets are dropped, IPv4-mapped IPv6 becomes IPv4, so a rate-limit key is one
canonical address string, valid for PostgreSQL's inet type.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from django.core.exceptions import ImproperlyConfigured

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_ENTRY_CHARS = 64  # "[ffff:…:ffff%zone]:65535" fits; anything longer is not an address
MAX_HOPS = 32  # entries looked at, from the right


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        if text == "*":
            raise ImproperlyConfigured(
                "FORWARDED_ALLOW_IPS='*' would believe any client's X-Forwarded-For: list the proxies' "
                "addresses or networks (e.g. 172.30.57.10 or 10.0.0.0/8), or set AUTH_TRUSTED_PROXY_COUNT."
            )
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {text!r} is not an address or network.") from None
    return tuple(networks)


def parse_address(text: str | None) -> Address | None:
    """An IP address from a peer or X-Forwarded-For entry, or None when it is not one."""
    if not text:
        return None
    text = text.strip().strip('"')
    if not text or len(text) > MAX_ENTRY_CHARS:
        return None
    if text.startswith("["):  # [v6] or [v6]:port
        text, bracket, _ = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return None
        if address.ipv4_mapped:
            return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: str, networks: Sequence[Network], hops: int) -> str | None:
    """The client's address as a canonical string, or None when the peer has none (a Unix socket)."""
    address = parse_address(peer)
    if address is None:
        return None
    entries = [entry for entry in forwarded_for.split(",")[-MAX_HOPS:] if entry.strip()] if forwarded_for else []
    for position, entry in enumerate(reversed(entries)):
        if not (position < hops or is_trusted(address, networks)):
            break  # the current hop is the client, or someone we do not believe
        written = parse_address(entry)
        if written is None:
            break
        address = written
    return str(address)
