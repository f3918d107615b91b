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
        ("::ffff:10.1.2.3", "198.51.100.1", "198.51.100.1"),  # a mapped peer is a trusted v4
        ("10.1.2.3", "::ffff:198.51.100.1", "198.51.100.1"),  # a mapped hop compares as v4
        ("10.1.2.3", "::ffff:10.2.2.2, 10.3.3.3", "10.2.2.2"),  # all trusted: the leftmost
        ("10.1.2.3", "198.51.100.1:8443", "198.51.100.1"),
        ("10.1.2.3", "[2001:db8::9], [fd00::2]:80", "2001:db8::9"),
        ("10.1.2.3", "6.6.6.6, , 10.9.9.9", "10.9.9.9"),  # an empty hop ends the walk
        ("10.1.2.3", "6.6.6.6, unknown", "10.1.2.3"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1:http", "10.1.2.3"),  # a port is digits
        ("10.1.2.3", "6.6.6.6, fe80::1%eth0", "10.1.2.3"),  # a zone is no client
        ("10.1.2.3", "6.6.6.6,198.51.100.1", "198.51.100.1"),  # no space after the comma
    ],
)
def test_client_address_trusts_forwarded_for_only_from_trusted_proxies(
    peer: str, xff: str | None, expected: str
) -> None:
    assert client_address(peer, xff, PROXIES) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # A proxy that adds its own line: the real client is on the last line.
        (["10.1.2.3", "192.0.2.9"], "192.0.2.9"),
        (["6.6.6.6, 10.1.2.3", "198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        (["2001:db8::1", "::ffff:192.0.2.7"], "192.0.2.7"),
        (["198.51.100.1", "[fd00::5]:443", "10.8.8.8"], "198.51.100.1"),
        (["192.0.2.1", ""], "10.1.2.3"),  # an empty last line: no hop can be trusted
    ],
)
def test_client_address_reads_every_forwarded_for_line_in_order(
    lines: list[str], expected: str
) -> None:
    joined = client_address("10.1.2.3", ", ".join(lines), PROXIES)

    assert client_address("10.1.2.3", lines, PROXIES) == ipaddress.ip_address(expected)
    assert joined == ipaddress.ip_address(expected)  # lines and one line mean the same


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
    headers["Content-Type"] = "application/json"
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
            headers["Content-Type"] = "application/json"
            async with httpx.AsyncClient(base_url=server.url) as http:
                response = await http.post("/v1/orders", content=body, headers=headers)
            codes.append(response.status_code)
    finally:
        await server.stop()

    assert url.startswith("http://[::1]:")
    assert codes == [202, 403]


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.redis
async def test_forged_first_forwarded_for_line_does_not_pass_the_allowlist(
    settings: Settings, start_ingress: Callable[..., Any], unique: str
) -> None:
    # Over a real socket: the HTTP parser must hand every header line to the app.
    server = await start_ingress(ingress_settings(settings, trusted_proxies=("127.0.0.1/32",)))
    key = await server.runtime.store.create("acl", scopes=["submit"], cidrs=["10.0.0.0/8"])

    async def post(*lines: str, forwarded: str | None = None) -> httpx.Response:
        body = orjson.dumps(intent_body(unique))
        signed = signed_headers(key.key_id, key.secret, method="POST", path="/v1/orders", body=body)
        headers = [*signed.items(), ("Content-Type", "application/json")]
        headers += [("X-Forwarded-For", line) for line in lines]
        if forwarded is not None:
            headers.append(("Forwarded", forwarded))
        async with httpx.AsyncClient(base_url=server.url) as http:
            return await http.post("/v1/orders", content=body, headers=headers)

    two_lines = await post("10.1.2.3", "192.0.2.9")
    one_line = await post("10.1.2.3, 192.0.2.9")
    inside = await post("192.0.2.9", "10.1.2.3")
    rfc7239 = await post(forwarded="for=10.1.2.3")  # not read: the client is the proxy

    assert two_lines.status_code == 403, two_lines.text
    assert two_lines.json()["error"]["code"] == "address_not_allowed"
    assert one_line.status_code == 403
    assert inside.status_code == 202, inside.text
    assert rfc7239.status_code == 403
