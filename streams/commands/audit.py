"""``tradepipe audit verify``: walk the audit trail's hash chain."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@app.command("verify")
def verify() -> None:
    """Walk the audit hash chain and name the first broken link (exit 1 if there is one)."""
    import asyncio

    from connectors.sink.audit import audit_verify
    from streams.errors import AuditChainBroken
    from streams.logs import configure_logging
    from streams.settings import get_settings

    settings = get_settings()
    configure_logging(
        level=settings.log.level, json_output=settings.log_json, file=settings.log.file
    )
    verdict = asyncio.run(audit_verify(settings))
    if not verdict.ok:
        raise AuditChainBroken(f"audit chain broken at row {verdict.broken_seq}: {verdict.reason}")
    typer.echo(f"audit chain intact: {verdict.rows} rows")
