"""Every Faust app of the pipeline recovers its tables with ``OrderedRecovery``, which resumes
stream partitions only once they are sought (streams/recovery.py; the chaos day in
tests/e2e/test_chaos_day.py is the behavioural test)."""

from __future__ import annotations

from collections.abc import Callable

from streams.app import build_pipeline
from streams.recovery import OrderedRecovery, PipelineTableManager
from streams.settings import Settings


def test_pipeline_app_recovers_tables_with_ordered_recovery(
    make_settings: Callable[..., Settings],
) -> None:
    # Arrange / Act
    pipeline = build_pipeline(make_settings())
    # Assert
    assert isinstance(pipeline.app.tables, PipelineTableManager)
    assert isinstance(pipeline.app.tables.recovery, OrderedRecovery)
    assert pipeline.app.tables.recovery is pipeline.app.tables.recovery
