"""Client addresses: X-Forwarded-For only through trusted proxies, and CIDR allowlists."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from streams.errors import ConfigError

__all__ = ["IPAddress", "IPNetwork", "allowed", "client_address", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# "[v6]" or "[v6]:port" (RFC 7239 style), "v4:port", or a bare address.
_BRACKETED = re.compile(r"^\[([0-9A-Fa-f:.]+)\](?::[0-9]{1,5})?$")
_V4_PORT = re.compile(r"^([0-9.]+):[0-9]{1,5}$")


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or bare addresses) as networks; ``ConfigError`` on a bad one."""
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())
    except ValueError as exc:
        raise ConfigError(f"not a CIDR: {exc}") from exc


def _normalise(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    bracketed = _BRACKETED.match(text)
    if bracketed:
        text = bracketed.group(1)
    else:
        with_port = _V4_PORT.match(text)
        if with_port:
            text = with_port.group(1)
    # A zone ("fe80::1%eth0") names an interface of the proxy, not a client: refused.
    if "%" in text:
        return None
    try:
        return _normalise(ipaddress.ip_address(text))
    except ValueError:
        return None


def _peer(peer: str | None) -> IPAddress | None:
    if not peer:
        return None
    try:
        return _normalise(ipaddress.ip_address(peer))
    except ValueError:
        return None


def _trusted(address: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(address in net for net in proxies)


def client_address(
    peer: str | None,
    forwarded_for: str | Sequence[str] | None,
    proxies: tuple[IPNetwork, ...],
) -> IPAddress | None:
    """The client's address.

    ``forwarded_for`` is every ``X-Forwarded-For`` line of the request, in the order they
    arrived: a proxy may add its own line instead of appending to the client's, so reading
    only one line lets a client put its forged hop where the walk looks. The lines are
    joined in order (RFC 9110 §5.3) and the hops are read from the right.

    The TCP peer is the client unless it is a trusted proxy; then the hops are walked from
    the right, skipping trusted proxies, and the first untrusted hop is the client. A
    malformed or empty hop ends the walk at the last trusted address seen (a hop left of
    it could have been written by anyone). ``None`` when no address can be determined.
    """
    address = _peer(peer)
    if isinstance(forwarded_for, str):
        forwarded_for = [forwarded_for]
    if address is None or not proxies or not _trusted(address, proxies) or not forwarded_for:
        return address
    for hop in reversed(",".join(forwarded_for).split(",")):
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
