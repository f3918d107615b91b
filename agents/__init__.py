"""The Faust agents of the pipeline; ``register_all`` declares them on a pipeline's app."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.app import Pipeline

__all__ = ["register_all"]


def register_all(pipeline: Pipeline) -> None:
    """Declare every agent on the pipeline's Faust app."""
    from agents import validate

    validate.register(pipeline)
