"""Ingress benchmark: signed orders over loopback, from a separate load process.

    .venv/bin/python bench/ingress.py [--closed-seconds 10] [--rate 1000] [--open-seconds 20]

Starts the embedded broker, creates the topics, a Postgres schema and an API key, runs the
ingress in a subprocess (``tradepipe ingress serve`` code path, uvloop + httptools) and the
load generator in another subprocess (aiohttp, keep-alive, every request freshly signed with
its own nonce). Prints:

* baseline: closed-loop GET /healthz (the HTTP stack alone, same run, same machine);
* closed loop: sustained signed ``POST /v1/orders`` per second at max throughput;
* open loop: p50/p95/p99 at a fixed offered rate, latency measured from each request's
  *scheduled* send time (no coordinated omission);
* where the time goes: the ingress's per-phase timers (``tradepipe_ingress_phase_seconds``).

The broker keeps batching on (``linger_ms`` from settings): nothing restarts here, so the
one-record batches of docs/embedded-broker.md #3 are not needed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FERNET_KEY = "Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU="  # throwaway, bench only


# --- load generator (runs in its own process) -------------------------------------------
def _body(n: int, run: str) -> bytes:
    import orjson

    return orjson.dumps(
        {
            "intent_id": f"b-{run}-{n}",
            "account_id": f"acct-{n % 64}",
            "client_order_id": f"c{n}",
            "instrument_token": "2885",
            "exchange": "NSE",
            "side": "BUY" if n % 2 else "SELL",
            "quantity": 1 + n % 50,
            "order_type": "LIMIT",
            "price": "2450.05",
        }
    )


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from connectors.ingress.client import signed_headers

    url = args.url
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))

    def request() -> tuple[bytes, dict[str, str]]:
        body = _body(next(counter), run)
        headers = signed_headers(
            args.key_id,
            args.secret,
            method="POST",
            path="/v1/orders",
            body=body,
            nonce=secrets.token_hex(12),
        )
        headers["Content-Type"] = "application/json"
        return body, headers

    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def closed(path: str, seconds: float, signed: bool) -> dict[str, Any]:
            done = errors = 0
            stop = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal done, errors
                while time.perf_counter() < stop:
                    if signed:
                        body, headers = request()
                        async with http.post(url + path, data=body, headers=headers) as r:
                            await r.read()
                            ok = r.status == 202
                    else:
                        async with http.get(url + path) as r:
                            await r.read()
                            ok = r.status == 200
                    done += ok
                    errors += not ok

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - began
            return {"rps": done / elapsed, "ok": done, "errors": errors, "seconds": elapsed}

        async def open_loop(rate: float, seconds: float) -> dict[str, Any]:
            total = int(rate * seconds)
            prepared = [request() for _ in range(total)]  # signing is not on the clock
            latencies: list[float] = []
            codes: dict[int, int] = {}
            worst: dict[int, float] = {}

            async def one(at: float, body: bytes, headers: dict[str, str]) -> None:
                async with http.post(url + "/v1/orders", data=body, headers=headers) as r:
                    await r.read()
                    codes[r.status] = codes.get(r.status, 0) + 1
                latencies.append(time.perf_counter() - at)
                second = int(at - start)
                worst[second] = max(worst.get(second, 0.0), (time.perf_counter() - at) * 1000)

            tasks = []
            start = time.perf_counter() + 0.1
            for i, (body, headers) in enumerate(prepared):
                at = start + i / rate
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(at, body, headers)))
            await asyncio.gather(*tasks)
            latencies.sort()

            def pct(p: float) -> float:
                return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

            achieved = len(latencies) / (time.perf_counter() - start)
            return {
                "offered": rate,
                "achieved": achieved,
                "codes": codes,
                "p50_ms": pct(0.50),
                "p95_ms": pct(0.95),
                "p99_ms": pct(0.99),
                "max_ms": latencies[-1] * 1000,
                "worst_ms_per_second": [round(worst[k], 1) for k in sorted(worst)],
            }

        async def scrape() -> tuple[dict[str, tuple[float, float]], dict[float, float]]:
            async with http.get(url + "/metrics") as r:
                text = await r.text()
            return _phase_totals(text), _request_buckets(text)

        await closed("/v1/orders", 2, True)  # warm-up: connections, caches, producer batches
        baseline = await closed("/healthz", args.baseline_seconds, False)
        before = await scrape()
        sustained = await closed("/v1/orders", args.closed_seconds, True)
        middle = await scrape()
        await asyncio.sleep(1)
        fixed = await open_loop(args.rate, args.open_seconds)
        after = await scrape()
    return {
        "baseline_healthz": baseline,
        "closed_loop": sustained,
        "open_loop": fixed,
        "phases_closed": _delta(before[0], middle[0]),
        "phases_open": _delta(middle[0], after[0]),
        "server_open": _bucket_quantiles(middle[1], after[1]),
    }


# --- orchestration -------------------------------------------------------------------------
def _request_buckets(metrics_text: str) -> dict[float, float]:
    """Cumulative bucket counts of the server-side time of ``POST /v1/orders``."""
    out: dict[float, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("tradepipe_ingress_request_seconds_bucket{") and "orders_submit" in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return out


def _bucket_quantiles(a: dict[float, float], b: dict[float, float]) -> dict[str, float]:
    """Upper bounds (ms) of p50/p99/p99.9 from two scrapes of a cumulative histogram."""
    edges = sorted(b)
    counts = [b[e] - a.get(e, 0.0) for e in edges]
    total = counts[-1] if counts else 0.0
    out: dict[str, float] = {}
    for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
        edge = next((e for e, c in zip(edges, counts, strict=True) if c >= q * total), edges[-1])
        out[name] = edge * 1000
    return out


def _phase_totals(metrics_text: str) -> dict[str, tuple[float, float]]:
    """(sum seconds, count) per phase of ``tradepipe_ingress_phase_seconds``."""
    totals: dict[str, list[float]] = {}
    for line in metrics_text.splitlines():
        for i, kind in enumerate(("_sum{", "_count{")):
            if line.startswith("tradepipe_ingress_phase_seconds" + kind):
                phase = line.split('phase="', 1)[1].split('"', 1)[0]
                totals.setdefault(phase, [0.0, 0.0])[i] = float(line.rsplit(" ", 1)[1])
    return {p: (v[0], v[1]) for p, v in totals.items()}


def _delta(
    a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean milliseconds per request and phase between two scrapes."""
    out: dict[str, float] = {}
    for phase, (total, count) in b.items():
        total0, count0 = a.get(phase, (0.0, 0.0))
        if count > count0:
            out[phase] = (total - total0) / (count - count0) * 1000
    return out


async def _setup(bootstrap: str, schema: str) -> tuple[str, str]:
    from connectors.ingress.runtime import open_key_store
    from streams.settings import IngressSettings, KafkaSettings, PostgresSettings, Settings
    from streams.topics import ensure_topics

    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    await ensure_topics(kafka)
    settings = Settings(
        kafka=kafka,
        postgres=PostgresSettings(db_schema=schema),
        ingress=IngressSettings(secrets_key=FERNET_KEY),
    )  # type: ignore[arg-type]
    store = await open_key_store(settings)
    issued = await store.create("bench", scopes=["submit"], rate_per_s=1e6, burst=10**6)
    await store.pool.close()
    return issued.key_id, issued.secret


def _cleanup(schema: str) -> None:
    """Drop the bench's Postgres schema and its Redis keys (nonces would linger 11 minutes)."""

    async def drop() -> None:
        import asyncpg
        import redis.asyncio as aioredis

        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
        client = aioredis.from_url("redis://127.0.0.1:6379/0")
        keys = [k async for k in client.scan_iter(match=f"bench:{schema}:*", count=5000)]
        for i in range(0, len(keys), 1000):
            await client.unlink(*keys[i : i + 1000])
        await client.aclose()

    asyncio.run(drop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=["main", "load"], default="main")
    parser.add_argument("--url", default="")
    parser.add_argument("--key-id", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--closed-seconds", type=float, default=10)
    parser.add_argument("--open-seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--py-spy", default="", help="record the ingress with py-spy to this file")
    args = parser.parse_args()
    if args.role == "load":
        print(json.dumps(asyncio.run(_load(args))))
        return

    import httpx

    from streams.embedded import EmbeddedBroker, free_port

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with EmbeddedBroker() as broker:
        key_id, secret = asyncio.run(_setup(broker.bootstrap_servers, schema))
        port = free_port()
        env = {
            **os.environ,
            "TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "TRADEPIPE_POSTGRES__DB_SCHEMA": schema,
            "TRADEPIPE_REDIS__KEY_PREFIX": f"bench:{schema}:",
            "TRADEPIPE_INGRESS__SECRETS_KEY": FERNET_KEY,
            "TRADEPIPE_INGRESS__ACCOUNT_RATE_PER_S": "1000000",
            "TRADEPIPE_INGRESS__ACCOUNT_BURST": "1000000",
            "TRADEPIPE_LOG__LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        argv = [
            sys.executable,
            "-m",
            "streams.cli",
            "ingress",
            "serve",
            "--port",
            str(port),
        ]
        server = subprocess.Popen(argv, env=env)
        spy = None
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            else:
                raise SystemExit("the ingress did not become ready")
            if args.py_spy:  # collapsed stacks of the ingress during the whole load
                seconds = 4 + args.baseline_seconds + args.closed_seconds
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(server.pid),
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--duration",
                        str(int(seconds)),
                        "-o",
                        args.py_spy,
                    ],
                    stdout=subprocess.DEVNULL,
                )
            load = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--role",
                    "load",
                    "--url",
                    url,
                    "--key-id",
                    key_id,
                    "--secret",
                    secret,
                    "--concurrency",
                    str(args.concurrency),
                    "--baseline-seconds",
                    str(args.baseline_seconds),
                    "--closed-seconds",
                    str(args.closed_seconds),
                    "--open-seconds",
                    str(args.open_seconds),
                    "--rate",
                    str(args.rate),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(load.stdout.strip().splitlines()[-1])
            if spy is not None:
                spy.wait(60)
        finally:
            server.terminate()
            server.wait(10)
            _cleanup(schema)
    _report(result, args)


def _report(r: dict[str, Any], args: argparse.Namespace) -> None:
    b, c, o = r["baseline_healthz"], r["closed_loop"], r["open_loop"]
    print(f"ingress benchmark — loopback, {os.cpu_count()} cores, concurrency {args.concurrency}")
    print(f"  baseline GET /healthz (HTTP stack only): {b['rps']:8.0f} req/s")
    print(
        f"  closed loop signed POST /v1/orders:      {c['rps']:8.0f} orders/s "
        f"({c['ok']} accepted, {c['errors']} errors, {c['seconds']:.1f} s)"
        f"  = {c['rps'] / b['rps']:.0%} of baseline"
    )
    print(
        f"  open loop at {o['offered']:.0f}/s for {args.open_seconds:.0f} s: achieved "
        f"{o['achieved']:.0f}/s, codes {o['codes']}"
    )
    print(
        f"    latency p50 {o['p50_ms']:.2f} ms  p95 {o['p95_ms']:.2f} ms  "
        f"p99 {o['p99_ms']:.2f} ms  max {o['max_ms']:.2f} ms"
    )
    print(f"    worst latency per second (ms): {o['worst_ms_per_second']}")
    sv = r["server_open"]
    print(
        f"    server-side time in the ingress (histogram upper bounds): p50 <= {sv['p50']:g} ms"
        f"  p99 <= {sv['p99']:g} ms  p99.9 <= {sv['p999']:g} ms"
    )
    print("  where the time goes (server-side mean ms per request; work = Kafka ack wait):")
    for name in ("closed", "open"):
        phases = r[f"phases_{name}"]
        text = "  ".join(
            f"{p} {phases[p]:.3f}" for p in ("auth", "validate", "redis", "work") if p in phases
        )
        print(f"    {name + ' loop:':<13} {text}")


if __name__ == "__main__":
    main()
