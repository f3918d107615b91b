"""The Faust agents of the pipeline; ``register_all`` declares them on a pipeline's app.

| agent | input | outputs |
|---|---|---|
| ``validate_intents`` | orders.intents.v1 | orders.validated.v1, orders.events.v1 |
| (stage ``check_risk``) | | orders.approved.v1, orders.events.v1 |
| (stage ``route_orders``) | | paper.orders.v1, orders.events.v1 |
| ``apply_order_events`` | orders.events.v1 | audit.events.v1 (illegal transitions) |
| ``apply_fills`` | exec.fills.v1 | positions.v1, audit.events.v1 |
| ``apply_controls`` | control.commands.v1 | audit.events.v1 |

Per worker, outside the consumer group: the price feed (md.ticks.v1), the ``"*"`` control
broadcast and the mark timer. See ``docs/order-pipeline.md`` ("Wiring").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents.context import WorkerContext
    from streams.app import Pipeline

__all__ = ["register_all"]


def register_all(pipeline: Pipeline) -> WorkerContext:
    """Declare every agent, table and per-worker task on the pipeline's Faust app."""
    import asyncio

    from agents import control, fills, orders, validate
    from agents.context import build_context
    from agents.prices import run_price_feed

    ctx = build_context(pipeline)
    validate.register(ctx)
    orders.register(ctx)
    fills.register(ctx)
    control.register(ctx)

    async def worker_services() -> None:
        await ctx.producer.start()
        tasks = [
            asyncio.create_task(run_price_feed(pipeline, ctx.prices, lambda: ctx.loaded("prices"))),
            asyncio.create_task(control.run_control_broadcast(ctx)),
            asyncio.create_task(fills.run_mark_timer(ctx)),
        ]
        try:
            await ctx.load_instruments()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await ctx.producer.stop()

    pipeline.app.task(worker_services)
    return ctx
