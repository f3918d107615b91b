"""``tradepipe ingress serve`` and ``tradepipe keys create | rotate | revoke | list``.

``app`` is mounted by the lead as ``tradepipe ingress``; ``keys_app`` as ``tradepipe keys``.
Errors print one line and exit non-zero, never a traceback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, TypeVar

import typer

from connectors.ingress.publisher import KafkaPublisher
from connectors.ingress.runtime import open_key_store
from connectors.ingress.store import ApiKeyStore
from schemas.records import AuditEvent
from streams.errors import TradepipeError
from streams.logs import configure_logging
from streams.settings import Settings, get_settings

__all__ = ["app", "keys_app"]

app = typer.Typer(help="The signed HTTP ingress.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys of the ingress.", no_args_is_help=True)

T = TypeVar("T")


@app.callback()
def _ingress() -> None:
    """The signed HTTP ingress (``serve``)."""


def _settings() -> Settings:
    return get_settings()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    try:
        settings = _settings()
        return asyncio.run(work(settings))
    except TradepipeError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # settings that do not validate
        raise _fail(f"invalid settings: {exc}") from None


async def _with_store(settings: Settings, work: Callable[[ApiKeyStore], Awaitable[T]]) -> T:
    store = await open_key_store(settings)
    try:
        return await work(store)
    finally:
        await store.pool.close()


async def _audit(settings: Settings, action: str, key_id: str, **details: str) -> None:
    """Best effort: a key change is done even when Kafka is away (a warning says so)."""
    publisher = KafkaPublisher(settings)
    await publisher.start()
    if not await publisher.wait_ready(settings.ingress.produce_timeout_s):
        typer.echo("warning: Kafka unreachable, the audit event was not published", err=True)
    event = AuditEvent(
        event_id=uuid.uuid4().hex,
        actor="cli",
        action=action,
        outcome="ok",
        subject=key_id,
        details=details,
        trace_id=uuid.uuid4().hex,
    )
    await publisher.publish_audit(event, wait=True)
    await publisher.stop()


async def _noop(_: ApiKeyStore) -> None:
    return None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="bind address (default: settings)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings)")] = None,
) -> None:
    """Serve the ingress until interrupted."""
    from connectors.ingress.server import serve

    try:
        settings = _settings()
        configure_logging(
            level=settings.log.level, json_output=settings.log_json, file=settings.log.file
        )
        # Fail fast with one line (master key, Postgres, tables) before uvicorn starts.
        asyncio.run(_with_store(settings, _noop))
        serve(settings, host=host, port=port)
    except TradepipeError as exc:
        raise _fail(str(exc)) from None


@keys_app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="who the key is for")],
    scope: Annotated[list[str], typer.Option(help="submit, read, admin (repeat or comma list)")],
    cidr: Annotated[list[str] | None, typer.Option(help="allowed network (repeatable)")] = None,
    account: Annotated[list[str] | None, typer.Option(help="allowed account (repeatable)")] = None,
    rate: Annotated[float | None, typer.Option(help="requests/s (default: settings)")] = None,
    burst: Annotated[int | None, typer.Option(help="burst (default: settings)")] = None,
) -> None:
    """Issue a key; its secret is printed once."""

    async def work(settings: Settings) -> None:
        issued = await _with_store(
            settings,
            lambda s: s.create(
                name,
                scopes=_split(scope),
                cidrs=_split(cidr),
                accounts=_split(account),
                rate_per_s=rate,
                burst=burst,
            ),
        )
        typer.echo(
            f"key_id: {issued.key_id}\nsecret: {issued.secret}\n"
            "(the secret is shown once; store it now)"
        )
        await _audit(
            settings, "key_created", issued.key_id, name=name, scopes=",".join(_split(scope))
        )

    _run(work)


@keys_app.command("rotate")
def rotate_command(
    key_id: str,
    grace: Annotated[float, typer.Option(help="seconds the older secrets stay valid")] = 86_400,
) -> None:
    """Add a new secret; older ones expire after the grace period."""

    async def work(settings: Settings) -> None:
        issued = await _with_store(settings, lambda s: s.rotate(key_id, grace_s=grace))
        typer.echo(
            f"key_id: {issued.key_id}\nversion: {issued.version}\nsecret: {issued.secret}\n"
            "(the secret is shown once; store it now)"
        )
        await _audit(
            settings, "key_rotated", key_id, version=str(issued.version), grace_s=str(grace)
        )

    _run(work)


@keys_app.command("revoke")
def revoke_command(
    key_id: str,
    version: Annotated[int | None, typer.Option(help="revoke only this secret version")] = None,
) -> None:
    """Revoke a key, or one of its secrets."""

    async def work(settings: Settings) -> None:
        await _with_store(settings, lambda s: s.revoke(key_id, version=version))
        what = key_id if version is None else f"{key_id} secret {version}"
        typer.echo(f"revoked {what}")
        await _audit(settings, "key_revoked", key_id, version=str(version or "all"))

    _run(work)


@keys_app.command("list")
def list_command() -> None:
    """List keys (never their secrets)."""

    async def work(settings: Settings) -> None:
        keys = await _with_store(settings, lambda s: s.list())
        typer.echo("key_id\tname\tscopes\tactive_secrets\tcidrs\taccounts\trevoked_at")
        for k in keys:
            typer.echo(
                "\t".join(
                    [
                        k.key_id,
                        k.name,
                        ",".join(k.scopes),
                        ",".join(map(str, k.active_secrets)) or "-",
                        ",".join(k.cidrs) or "*",
                        ",".join(k.accounts) or "*",
                        k.revoked_at.isoformat() if k.revoked_at else "-",
                    ]
                )
            )

    _run(work)
