"""Micro-benchmark of the order hot path's pure decisions: validate + check_order.

Generates N intents over the sample instruments (mostly valid, some invalid, a mix of LIMIT
and MARKET, BUY and SELL, many accounts), then times each intent with ``perf_counter_ns``:

* ``decide``: ``validate`` + ``limits_for`` + ``check_order`` (the figure the < 1 ms p99
  target is about);
* ``hot path``: instrument lookup + the above + ``enrich`` + ``on_approved`` for approvals
  (what a validation+risk agent does per intent besides Kafka and Avro).

Run: ``python bench/decisions.py [N]`` (default 100,000). No pytest, no I/O in the loop.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from collections import Counter, deque
from datetime import date
from decimal import Decimal

from agents.risk import (
    AccountRisk,
    RiskLimits,
    check_order,
    limits_for,
    on_approved,
    on_order_closed,
)
from agents.validation import enrich, validate
from connectors.instruments import InstrumentMaster
from schemas.prices import round_to_tick
from schemas.records import OrderIntent, OrderType, Product, Side

__all__ = ["main"]

TODAY = date(2026, 11, 21)
START_NS = 1_795_300_000 * 1_000_000_000
STEP_NS = 200_000  # 5,000 intents/s of simulated time
ACCOUNTS = 500
OPEN_FOR = 2_000


def _intents(n: int, master: InstrumentMaster, seed: int = 1) -> list[OrderIntent]:
    rng = random.Random(seed)
    insts = [i for i in master if i.expiry is None or i.expiry >= TODAY]
    expired = [i for i in master if i.expiry is not None and i.expiry < TODAY]
    out = []
    for k in range(n):
        inst = rng.choice(expired) if rng.random() < 0.01 else rng.choice(insts)
        market = rng.random() < 0.3
        ticks_away = rng.randint(-40, 40)
        price = (
            None
            if market
            else round_to_tick(Decimal(1000), inst.tick_size) + ticks_away * inst.tick_size
        )
        lots = rng.randint(1, 5)
        qty = lots * inst.lot_size + (1 if rng.random() < 0.01 and inst.lot_size > 1 else 0)
        out.append(
            OrderIntent(
                intent_id=f"i{k}",
                account_id=f"A{rng.randrange(ACCOUNTS)}",
                client_order_id=f"c{k}",
                instrument_token=inst.token,
                exchange=inst.exchange,
                side=rng.choice((Side.BUY, Side.SELL)),
                quantity=qty,
                order_type=OrderType.MARKET if market else OrderType.LIMIT,
                product=Product.CARRYFORWARD if inst.is_derivative else Product.DELIVERY,
                price=price,
            )
        )
    return out


def _pct(sorted_ns: list[int], p: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p))] / 1000


def main(n: int = 100_000) -> None:
    """Run the benchmark and print p50/p99 (µs) and ops/s."""
    master = InstrumentMaster.sample()
    intents = _intents(n, master)
    last = Decimal(1000)
    defaults = RiskLimits()
    states: dict[str, AccountRisk] = {}
    seen: dict[str, set[str]] = {}
    decide_ns: list[int] = []
    path_ns: list[int] = []
    outcomes: Counter[str] = Counter()
    # approved orders leave the book (filled or cancelled) ~OPEN_FOR intents later, so open
    # exposure stays at a steady state instead of growing without bound
    working: deque[tuple[int, AccountRisk, str]] = deque()
    clock = time.perf_counter_ns
    gc.collect()
    wall = clock()
    for k, intent in enumerate(intents):
        now_ns = START_NS + k * STEP_NS
        acct = intent.account_id
        state = states.get(acct)
        if state is None:
            state = states[acct] = AccountRisk(acct)
            seen[acct] = set()
        t0 = clock()
        inst = master.find(intent.exchange, intent.instrument_token)
        t1 = clock()
        code = validate(intent, inst, today=TODAY, seen_client_order_ids=seen[acct])
        if code is None:
            code = check_order(intent, state, limits_for(state, defaults), now_ns, last)
        t2 = clock()
        if code is None and inst is not None:
            enriched = enrich(intent, inst)
            seen[acct].add(enriched.client_order_id)
            on_approved(state, enriched, now_ns, last)
        t3 = clock()
        if code is None:
            working.append((k, state, intent.intent_id))
        while working and working[0][0] <= k - OPEN_FOR:
            _, old_state, old_id = working.popleft()
            on_order_closed(old_state, old_id)
        decide_ns.append(t2 - t1)
        path_ns.append(t3 - t0)
        outcomes[code or "APPROVED"] += 1
    wall = clock() - wall
    decide_ns.sort()
    path_ns.sort()
    print(
        f"intents: {n:,}  accounts: {ACCOUNTS}  instruments: {len(master)}  "
        f"python {sys.version.split()[0]}"
    )
    for name, samples in (("validate+check_order", decide_ns), ("hot path", path_ns)):
        total = sum(samples)
        print(
            f"{name:>22}: p50 {_pct(samples, 0.50):6.1f} µs  p99 {_pct(samples, 0.99):6.1f} µs  "
            f"max {samples[-1] / 1000:8.1f} µs  {n / (total / 1e9):>10,.0f} ops/s (in-loop)"
        )
    print(f"{'loop wall':>22}: {n / (wall / 1e9):,.0f} intents/s including timing overhead")
    top = ", ".join(f"{k}={v}" for k, v in outcomes.most_common(8))
    print(f"{'outcomes':>22}: {top}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
