"""Per-key CIDR allowlists (IPv4, IPv6) and X-Forwarded-For through trusted proxies only."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from connectors.ingress.client import signed_headers
from connectors.ingress.netacl import allowed, client_address, parse_networks
from connectors.ingress.server import IngressServer
from connectors.ingress.store import IssuedSecret
from streams.settings import Settings
from tests.ingress.conftest import ingress_settings
from tests.ingress.factories import intent_body

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.9", None, "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: XFF ignored
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # skip trusted hops
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # leftmost is forgeable
        ("fd00::1", "2001:db8::7", "2001:db8::7"),
        ("10.1.2.3", "[2001:db8::8]:443", "2001:db8::8"),
        ("10.1.2.3", "garbage", "10.1.2.3"),
        ("::ffff:192.0.2.5", None, "192.0.2.5"),
    ],
)
def test_client_address_trusts_forwarded_for_only_from_trusted_proxies(
    peer: str, xff: str | None, expected: str
) -> None:
    assert client_address(peer, xff, PROXIES) == ipaddress.ip_address(expected)


def test_allowlist_matches_ipv4_and_ipv6_networks() -> None:
    nets = parse_networks(["192.0.2.0/24", "2001:db8:1::/48"])

    assert allowed(ipaddress.ip_address("192.0.2.77"), nets)
    assert allowed(ipaddress.ip_address("2001:db8:1:ff::1"), nets)
    assert not allowed(ipaddress.ip_address("192.0.3.1"), nets)
    assert not allowed(ipaddress.ip_address("2001:db8:2::1"), nets)
    assert not allowed(None, nets)
    assert allowed(None, ())


async def _post_from(
    server: IngressServer, key: IssuedSecret, peer: str, unique: str, xff: str | None = None
) -> httpx.Response:
    body = orjson.dumps(intent_body(unique))
    headers = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
    if xff:
        headers["X-Forwarded-For"] = xff
    transport = httpx.ASGITransport(app=server.app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingress") as http:
        return await http.post("/v1/orders", content=body, headers=headers)


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.redis
async def test_allowlisted_key_is_refused_outside_its_networks(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    server = await start_ingress(ingress_settings(settings, trusted_proxies=("10.0.0.0/8",)))
    key = await server.runtime.store.create(
        "acl", scopes=["submit"], cidrs=["192.0.2.0/24", "2001:db8:1::/48"]
    )

    inside_v4 = await _post_from(server, key, "192.0.2.10", unique)
    inside_v6 = await _post_from(server, key, "2001:db8:1::10", unique)
    outside_v4 = await _post_from(server, key, "198.51.100.10", unique)
    outside_v6 = await _post_from(server, key, "2001:db8:2::10", unique)
    via_proxy = await _post_from(server, key, "10.0.0.5", unique, xff="2001:db8:1::99")
    forged = await _post_from(server, key, "198.51.100.10", unique, xff="192.0.2.10")

    assert inside_v4.status_code == 202
    assert inside_v6.status_code == 202
    assert outside_v4.status_code == 403
    assert outside_v4.json()["error"]["code"] == "address_not_allowed"
    assert outside_v6.status_code == 403
    assert via_proxy.status_code == 202
    assert forged.status_code == 403


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.redis
async def test_ipv6_loopback_client_is_allowed_by_an_ipv6_allowlist(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    server = IngressServer(ingress_settings(settings), host="::1")
    await server.start()
    try:
        assert await server.runtime.publisher.wait_ready(15)
        v6 = await server.runtime.store.create("v6", scopes=["submit"], cidrs=["::1/128"])
        v4 = await server.runtime.store.create("v4", scopes=["submit"], cidrs=["127.0.0.0/8"])
        codes = []
        url = server.url
        for key in (v6, v4):
            body = orjson.dumps(intent_body(unique))
            headers = signed_headers(
                key.key_id, key.secret, method="POST", path="/v1/orders", body=body
            )
            async with httpx.AsyncClient(base_url=server.url) as http:
                response = await http.post("/v1/orders", content=body, headers=headers)
            codes.append(response.status_code)
    finally:
        await server.stop()

    assert url.startswith("http://[::1]:")
    assert codes == [202, 403]
