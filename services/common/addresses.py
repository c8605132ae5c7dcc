"""The client's address for per-address limits, through the proxies we were told to trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[IpNetwork, ...]:
    """Addresses or CIDR networks; raise `ValueError` on one that is neither."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def _trusted(address: str, proxies: Sequence[IpNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(
    peer: str | None, headers: Mapping[str, str], proxies: Sequence[IpNetwork]
) -> str:
    """The peer, or, when the peer is a trusted proxy, the nearest untrusted X-Forwarded-For hop.

    Hops are read right to left, so a client cannot pick its address by sending the header
    itself: only what our own proxies appended counts.
    """
    address = peer or "unknown"
    if not proxies or not _trusted(address, proxies):
        return address
    hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
        address = hop
    return address
