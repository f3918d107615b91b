"""``tradepipe worker``: a Faust worker with every agent."""

from __future__ import annotations

__all__ = ["worker"]


def worker() -> None:
    """Run a Faust worker with every agent (joins the consumer group; scale by adding more)."""
    from agents import register_all
    from streams.settings import get_settings
    from streams.worker import run_worker

    run_worker(get_settings(), register_all)
