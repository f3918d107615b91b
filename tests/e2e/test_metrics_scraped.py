"""Every dashboard panel and alert rule has data: a real Prometheus scrapes a `tradepipe up` run.

One short run serves every test in this module. `tradepipe up` starts the stack (worker, sink,
paper exchange, ingress with its development key, simulator, demo feed); Debian's
`prometheus` scrapes each process's `/metrics` once a second and loads the shipped alert
rules; then the faults that some panels exist for are provoked (a bad signature, a rate
limit, a secret no master key opens, poison records, a venue event for an unknown order).
Each panel query, template variable and alert expression is then run through the HTTP API
and must return at least one series with a finite value.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from pydantic import SecretStr

from connectors.ingress.client import IngressClient, IngressError
from connectors.ingress.runtime import open_key_store
from schemas.records import OrderEvent, OrderStatus
from streams.embedded import free_port
from streams.metrics import REGISTRY
from streams.settings import IngressSettings, PostgresSettings, Settings
from tests.conftest import IN_CI, PG_DSN, REDIS_URL, service_missing
from tests.factories import make_order_event

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
RULES_FILE = REPO / "deploy" / "prometheus" / "rules" / "tradepipe.rules.yml"
# What Grafana would put in $__rate_interval for a 15 s scrape (4 x scrape); the run is short,
# so a window that still covers the provoked faults when the queries run.
RATE_INTERVAL = "1m"
# Processes of `tradepipe up` that serve /metrics, as Prometheus jobs (the deploy files' names).
JOBS = ("worker", "sink", "paper", "ingress")
# Declared metrics a healthy run (plus the faults below) does not produce, and why.
NOT_PROVOKED = {
    "tradepipe_ingress_audit_dropped_total": (
        "an audit event the broker does not take within 50 ms; provoking it needs the broker "
        "that the rest of the stack runs on to stall"
    ),
}
_BASH = shutil.which("bash") or "/bin/bash"
_COMPARISON = re.compile(r"(>=|<=|==|!=|>|<)(\s*)(?=[0-9.])")


# --- the run ------------------------------------------------------------------------------
@dataclass
class Stack:
    """The `tradepipe up` run, its printed output and the Prometheus scraping it."""

    cwd: Path
    schema: str
    output: str
    targets: dict[str, str]
    ingress_url: str
    curl_example: str
    prometheus: str
    curl_result: subprocess.CompletedProcess[str] | None = None
    faults: dict[str, int] = field(default_factory=dict)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query through the HTTP API; the result vector (a scalar as one sample)."""
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body.get("status") == "success", (expr, body)
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result


def _finite(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in series if math.isfinite(float(s["value"][1]))]


def _env(cwd: Path, schema: str, unique: str, ingress_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    env.update(
        TRADEPIPE_POSTGRES__DSN=PG_DSN,
        TRADEPIPE_POSTGRES__DB_SCHEMA=schema,
        TRADEPIPE_REDIS__URL=REDIS_URL,
        TRADEPIPE_REDIS__KEY_PREFIX=f"tp-{unique}:",
        TRADEPIPE_APP_ID=f"tp-metrics-{unique}",
        TRADEPIPE_SINK__GROUP_ID=f"tp-metrics-{unique}-sink",
        TRADEPIPE_PAPER__GROUP_ID=f"tp-metrics-{unique}-paper",
        TRADEPIPE_INGRESS__PORT=str(ingress_port),
        PYTHONUNBUFFERED="1",
        # rich wraps the summary table at the terminal width; keep each process on one line
        COLUMNS="500",
    )
    return env


def _wait_for_output(log: Path, up: subprocess.Popen[bytes], timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace")
        if "%{http_code}" in text:
            return text
        assert up.poll() is None, text[-3000:]
        time.sleep(0.3)
    raise AssertionError(f"tradepipe up printed no curl example: {log.read_text()[-3000:]}")


def _parse(output: str) -> tuple[dict[str, str], str, str]:
    targets = dict(re.findall(r"(\w+)\W+pid \d+\s+metrics http://([\d.:]+)/metrics", output))
    url = re.search(r"^ingress (http://\S+) ", output, re.M)
    curl = re.search(r"^(export INGRESS_URL=.*?%\{http_code\}\\n'\n)", output, re.M | re.S)
    assert url and curl, output
    return targets, url.group(1), curl.group(1)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer 200 in {timeout}s")


def _start_prometheus(tmp: Path, targets: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        message = "prometheus is not installed (run deploy/tools/install-validators.sh)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES_FILE)],
        "scrape_configs": [
            {"job_name": f"tradepipe-{job}", "static_configs": [{"targets": [targets[job]]}]}
            for job in JOBS
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/-/ready", timeout=60)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise AssertionError((tmp / "prometheus.log").read_text()[-3000:]) from None
    return proc, url


def _order(n: int, account: str = "MET1") -> dict[str, Any]:
    return {
        "intent_id": f"met-{uuid.uuid4().hex[:16]}",
        "account_id": account,
        "client_order_id": f"met-{uuid.uuid4().hex[:12]}-{n}",
        "instrument_token": "2885",
        "exchange": "NSE",
        "side": "BUY" if n % 2 else "SELL",
        "quantity": 1,
        "order_type": "LIMIT",
        "price": "2900.05",
    }


def _status_of(call: Any) -> int:
    try:
        call()
    except IngressError as exc:
        return exc.status
    return 202


async def _issue_keys(cwd: Path, schema: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """A key limited to one request, and one whose secret no configured master key opens."""
    from cryptography.fernet import Fernet

    master = (cwd / ".tradepipe" / "ingress-dev-master.key").read_text().strip()
    postgres = PostgresSettings(dsn=SecretStr(PG_DSN), db_schema=schema)
    issued = []
    for key, rate in ((master, 0.001), (Fernet.generate_key().decode(), None)):
        settings = Settings(postgres=postgres, ingress=IngressSettings(secrets_key=SecretStr(key)))
        store = await open_key_store(settings)
        try:
            secret = await store.create("metrics-test", scopes=["submit"], rate_per_s=rate, burst=1)
        finally:
            await store.pool.close()
        issued.append((secret.key_id, secret.secret))
    return issued[0], issued[1]


async def _produce_faults(bootstrap: str, schema: str) -> None:
    """Poison on the intents topic; a venue event for an order that was never routed."""
    from streams.app import make_codec
    from streams.kafka import aiokafka_producer
    from streams.topics import INTENTS, ORDER_EVENTS

    settings = Settings(postgres=PostgresSettings(dsn=SecretStr(PG_DSN), db_schema=schema))
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})}
    )
    encode = make_codec(settings).encoder(ORDER_EVENTS, OrderEvent)
    stray = make_order_event(
        intent_id=f"never-routed-{uuid.uuid4().hex[:8]}",
        account_id="MET9",
        status=OrderStatus.ACCEPTED,
        stage="venue",
        seq=3,
        venue="paper",
    )
    producer = aiokafka_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(INTENTS, b"not avro at all", key=b"MET9")
        await producer.send_and_wait(ORDER_EVENTS, encode(stray), key=b"MET9")
    finally:
        await producer.stop()


def _provoke_faults(stack: Stack) -> None:
    url = stack.ingress_url
    limited, unreadable = asyncio.run(_issue_keys(stack.cwd, stack.schema))
    with IngressClient(url, "tpk_0000000000000000", "not-the-secret") as wrong:
        stack.faults["bad_signature"] = _status_of(lambda: wrong.submit(_order(0)))
    with IngressClient(url, *limited) as client:
        first = _status_of(lambda: client.submit(_order(1)))
        stack.faults["rate_limited"] = _status_of(lambda: client.submit(_order(2)))
        assert first == 202
    with IngressClient(url, *unreadable) as client:
        stack.faults["undecryptable_secret"] = _status_of(lambda: client.submit(_order(3)))
    bootstrap = re.search(r"broker\W+([\d.:]+) ", stack.output)
    assert bootstrap, stack.output
    asyncio.run(_produce_faults(bootstrap.group(1), stack.schema))


class _Producer(threading.Thread):
    """An upstream producer: one signed order a second through the dev key (bounded)."""

    def __init__(self, url: str, key_id: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.client = IngressClient(url, key_id, secret)
        self.stopping = threading.Event()
        self.statuses: list[int] = []

    def run(self) -> None:
        for n in itertools.count():
            if self.stopping.wait(1.0) or n > 600:
                break
            self.statuses.append(_status_of(lambda n=n: self.client.submit(_order(n, "MET2"))))
        self.client.close()


def _dev_key(curl_example: str) -> tuple[str, str]:
    found = re.search(r"KEY_ID=(\S+) SECRET=(\S+)", curl_example)
    assert found
    return found.group(1), found.group(2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    unique = uuid.uuid4().hex[:10]
    schema = f"t_metrics_{unique}"
    cwd = tmp_path_factory.mktemp("metrics-up")
    try:
        asyncio.run(_ping_postgres())
    except OSError as exc:
        service_missing("Postgres", exc)
    log = cwd / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [
                *(sys.executable, "-m", "streams.cli", "up"),
                *("--port", str(free_port()), "--rate", "5", "--duration", "900"),
            ],
            cwd=cwd,
            env=_env(cwd, schema, unique, free_port()),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    prometheus: subprocess.Popen[bytes] | None = None
    producer: _Producer | None = None
    try:
        output = _wait_for_output(log, up)
        targets, ingress_url, curl_example = _parse(output)
        assert set(JOBS) <= set(targets), output
        _wait_http(f"{ingress_url}/healthz")
        prometheus, prom_url = _start_prometheus(cwd, targets)
        stack = Stack(cwd, schema, output, targets, ingress_url, curl_example, prom_url)
        stack.curl_result = subprocess.run(
            [_BASH, "-euo", "pipefail", "-c", curl_example],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        producer = _Producer(ingress_url, *_dev_key(curl_example))
        producer.start()
        _provoke_faults(stack)
        _wait_for_data(stack)
        yield stack
    finally:
        if producer is not None:
            producer.stopping.set()
            producer.join(10)
        if prometheus is not None:
            prometheus.terminate()
            try:
                prometheus.wait(15)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        asyncio.run(_drop_schema(schema))


async def _ping_postgres() -> None:
    conn = await asyncpg.connect(PG_DSN, timeout=5)
    await conn.close()


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# --- the queries --------------------------------------------------------------------------
def _dashboard_queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL as Grafana would send it) for every target and template variable."""
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        variables = dashboard["templating"]["list"]
        for variable in variables:
            if variable["type"] != "query":
                continue
            found = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
            assert found, variable["definition"]
            # label_values(m, l) has values exactly when some series of m carries l.
            yield (
                f"{path.name} variable ${variable['name']}",
                _concrete(f"count by ({found.group(2)}) ({found.group(1)})"),
            )
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                where = f"{path.name} panel {panel['id']} {panel['title']!r} {target['refId']}"
                yield where, _concrete(target["expr"])


def _panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from _panels(panel.get("panels", []))


def _concrete(expr: str) -> str:
    """Grafana's substitutions: the rate interval, and "All" (``.*``) for every variable."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", "15s")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def _alert_queries() -> Iterator[tuple[str, str]]:
    """(alert, its expression with each threshold comparison made a ``bool`` one).

    ``x > bool 10`` keeps every series of ``x`` (valued 0 or 1) instead of filtering them: a
    result proves the series the alert watches exist, whether or not it would fire.
    """
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                yield rule["alert"], _COMPARISON.sub(r"\1 bool\2", rule["expr"])


DASHBOARD_QUERIES = list(_dashboard_queries())
ALERT_QUERIES = list(_alert_queries())


def _wait_for_data(stack: Stack, timeout: float = 180) -> None:
    """Until every query has a finite series (or the deadline): a few scrapes and rule runs."""
    exprs = [expr for _, expr in DASHBOARD_QUERIES + ALERT_QUERIES]
    deadline = time.monotonic() + timeout
    # At least ten scrapes after the faults, so rates and derivatives have points to use.
    time.sleep(10)
    while time.monotonic() < deadline:
        if all(_finite(stack.query(expr)) for expr in exprs):
            return
        time.sleep(2)


def test_the_queries_were_found() -> None:
    assert len(DASHBOARD_QUERIES) >= 40
    assert {alert for alert, _ in ALERT_QUERIES} >= {"TradepipeSinkStalled", "TradepipeTargetDown"}
    assert "> bool 50000" in dict(ALERT_QUERIES)["TradepipeSinkBehind"]


def test_prometheus_scrapes_every_process_of_up(stack: Stack) -> None:
    up = {s["metric"]["job"]: s["value"][1] for s in stack.query('up{job=~"tradepipe-.*"}')}

    assert up == {f"tradepipe-{job}": "1" for job in JOBS}


def test_the_faults_were_provoked(stack: Stack) -> None:
    assert stack.faults == {
        "bad_signature": 401,
        "rate_limited": 429,
        "undecryptable_secret": 500,
    }


@pytest.mark.parametrize(
    ("where", "expr"), DASHBOARD_QUERIES, ids=[w for w, _ in DASHBOARD_QUERIES]
)
def test_dashboard_query_returns_a_series(stack: Stack, where: str, expr: str) -> None:
    assert _finite(stack.query(expr)), f"{where}: no series for {expr}"


@pytest.mark.parametrize(("alert", "expr"), ALERT_QUERIES, ids=[a for a, _ in ALERT_QUERIES])
def test_alert_expression_watches_series_that_exist(stack: Stack, alert: str, expr: str) -> None:
    assert _finite(stack.query(expr)), f"{alert}: no series for {expr}"


def test_prometheus_loaded_every_alert_rule(stack: Stack) -> None:
    body = httpx.get(f"{stack.prometheus}/api/v1/rules", timeout=10).json()
    rules = [r for g in body["data"]["groups"] for r in g["rules"] if r["type"] == "alerting"]

    assert {r["name"] for r in rules} == {alert for alert, _ in ALERT_QUERIES}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_every_declared_metric_is_emitted_by_some_process(stack: Stack) -> None:
    declared = {m.name for m in REGISTRY.collect()}
    scraped = {
        s["metric"]["__name__"]
        .removesuffix("_total")
        .removesuffix("_bucket")
        .removesuffix("_count")
        .removesuffix("_sum")
        .removesuffix("_created")
        for s in stack.query('count by (__name__) ({__name__=~"tradepipe_.+"})')
    }

    assert declared - scraped == {name.removesuffix("_total") for name in NOT_PROVOKED}
    assert scraped <= declared


def test_printed_curl_example_is_accepted_by_the_running_ingress(stack: Stack) -> None:
    result = stack.curl_result
    assert result is not None
    lines = result.stdout.strip().splitlines()

    assert result.returncode == 0, result.stderr
    assert lines[-1] == "202", result.stdout
    assert '"status":"accepted"' in lines[0]


def test_up_prints_the_ingress_url_once_with_a_development_key(stack: Stack) -> None:
    headline = re.findall(rf"^ingress {re.escape(stack.ingress_url)} ", stack.output, re.M)

    assert len(headline) == 1
    assert stack.curl_example.startswith(f"export INGRESS_URL={stack.ingress_url} KEY_ID=tpk_")
    assert "KEY_ID=tpk_" in stack.curl_example
    assert "SECRET=tpsk_" in stack.curl_example


def test_demo_orders_are_never_off_the_tick(stack: Stack) -> None:
    async def reasons() -> dict[str, int]:
        conn = await asyncpg.connect(PG_DSN)
        try:
            rows = await conn.fetch(
                f'SELECT e.reason_code, count(*) AS n FROM "{stack.schema}".order_events e '
                f'JOIN "{stack.schema}".order_intents i USING (intent_id) '
                "WHERE i.source = 'demo' AND e.status = 'REJECTED' GROUP BY 1"
            )
            demo = await conn.fetchval(
                f"SELECT count(*) FROM \"{stack.schema}\".order_intents WHERE source = 'demo' "
                "AND price IS NOT NULL"
            )
        finally:
            await conn.close()
        return {"limit_orders": int(demo), **{r["reason_code"]: int(r["n"]) for r in rows}}

    found = asyncio.run(reasons())

    assert found["limit_orders"] >= 20, found
    assert "PRICE_NOT_ON_TICK" not in found
    assert set(found) <= {"limit_orders", "QTY_NOT_POSITIVE"}, found


def _shape(lines: list[str]) -> list[str]:
    """Lines with what changes from run to run (pids, ports, key, schema, widths) blanked."""
    shaped = []
    for line in lines:
        text = line.replace("│", " ").strip()
        if not text or set(text) <= set("┌┐└┘─┬┴├┤┼ "):
            continue
        text = re.sub(r"tpsk_[\w-]+", "SECRET", text)
        text = re.sub(r"tpk_\w+", "KEY", text)
        text = re.sub(r"schema \S+", "schema S", text)
        text = re.sub(r"\d+", "N", text)
        shaped.append(re.sub(r"\s+", " ", text))
    return shaped


def test_readme_sample_output_is_what_up_printed(stack: Stack) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sample = re.search(r"`make up` prints.*?\n```\n(.*?)```", readme, re.S)
    assert sample, "README.md lost the sample output of `tradepipe up`"
    printed = [line.rstrip() for line in stack.output.splitlines()]
    start = printed.index("tradepipe is up")
    end = printed.index("Ctrl-C stops everything.")

    assert _shape(sample.group(1).splitlines()) == _shape(printed[start : end + 1])
