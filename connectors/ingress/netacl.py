"""Client addresses: X-Forwarded-For only through trusted proxies, and CIDR allowlists."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from streams.errors import ConfigError

__all__ = ["IPAddress", "IPNetwork", "allowed", "client_address", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or bare addresses) as networks; ``ConfigError`` on a bad one."""
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())
    except ValueError as exc:
        raise ConfigError(f"not a CIDR: {exc}") from exc


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: tuple[IPNetwork, ...]
) -> IPAddress | None:
    """The client's address.

    The TCP peer is the client unless it is a trusted proxy; then ``X-Forwarded-For`` is
    read from the right, skipping trusted proxies, and the first untrusted hop is the
    client. A malformed hop ends the walk at the last trusted address seen (never trusted
    as a client beyond it). ``None`` when no address can be determined.
    """
    address = _address(peer) if peer else None
    if address is None or not proxies or not _trusted(address, proxies) or not forwarded_for:
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop_address = _address(hop)
        if hop_address is None:
            return address
        address = hop_address
        if not _trusted(address, proxies):
            return address
    return address


def allowed(address: IPAddress | None, networks: tuple[IPNetwork, ...]) -> bool:
    """True when no allowlist is set, or the address is inside one of its networks."""
    if not networks:
        return True
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in networks)
