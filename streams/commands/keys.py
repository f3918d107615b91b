"""``tradepipe keys create | rotate | revoke | list``: the ingress's API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="API keys of the ingress.", no_args_is_help=True)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


async def _audit(settings: Settings, action: str, key_id: str, **details: str) -> None:
    from connectors.ingress.keys import audit_key_change
    from streams.exits import warn

    if not await audit_key_change(settings, action, key_id, **details):
        warn("Kafka unreachable, the audit event was not published")


def _issued(key_id: str, secret: str, version: int | None = None) -> None:
    shown = f"\nversion: {version}" if version is not None else ""
    typer.echo(
        f"key_id: {key_id}{shown}\nsecret: {secret}\n(the secret is shown once; store it now)"
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="who the key is for")],
    scope: Annotated[list[str], typer.Option(help="submit, read, admin (repeat or comma list)")],
    cidr: Annotated[list[str] | None, typer.Option(help="allowed network (repeatable)")] = None,
    account: Annotated[list[str] | None, typer.Option(help="allowed account (repeatable)")] = None,
    rate: Annotated[float | None, typer.Option(help="requests/s (default: settings)")] = None,
    burst: Annotated[int | None, typer.Option(help="burst (default: settings)")] = None,
) -> None:
    """Issue a key; its secret is printed once."""
    import asyncio

    from connectors.ingress.keys import create_key
    from streams.settings import get_settings

    settings = get_settings()
    scopes = _split(scope)

    async def work() -> None:
        issued = await create_key(
            settings,
            name,
            scopes=scopes,
            cidrs=_split(cidr),
            accounts=_split(account),
            rate_per_s=rate,
            burst=burst,
        )
        _issued(issued.key_id, issued.secret)
        await _audit(settings, "key_created", issued.key_id, name=name, scopes=",".join(scopes))

    asyncio.run(work())


@app.command("rotate")
def rotate(
    key_id: str,
    grace: Annotated[float, typer.Option(help="seconds the older secrets stay valid")] = 86_400,
) -> None:
    """Add a new secret; older ones expire after the grace period."""
    import asyncio

    from connectors.ingress.keys import rotate_key
    from streams.settings import get_settings

    settings = get_settings()

    async def work() -> None:
        issued = await rotate_key(settings, key_id, grace_s=grace)
        _issued(issued.key_id, issued.secret, issued.version)
        await _audit(
            settings, "key_rotated", key_id, version=str(issued.version), grace_s=str(grace)
        )

    asyncio.run(work())


@app.command("revoke")
def revoke(
    key_id: str,
    version: Annotated[int | None, typer.Option(help="revoke only this secret version")] = None,
) -> None:
    """Revoke a key, or one of its secrets."""
    import asyncio

    from connectors.ingress.keys import revoke_key
    from streams.settings import get_settings

    settings = get_settings()

    async def work() -> None:
        await revoke_key(settings, key_id, version=version)
        typer.echo(f"revoked {key_id if version is None else f'{key_id} secret {version}'}")
        await _audit(settings, "key_revoked", key_id, version=str(version or "all"))

    asyncio.run(work())


@app.command("list")
def list_() -> None:
    """List keys (never their secrets)."""
    import asyncio

    from connectors.ingress.keys import list_keys
    from streams.settings import get_settings

    keys = asyncio.run(list_keys(get_settings()))
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
