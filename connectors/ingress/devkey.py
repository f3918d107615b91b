"""The development key of ``tradepipe up``: a master key kept in the data folder, one API key
per run, and the signed curl example that uses it.

Development profile only: a production ingress gets its master key from the deployment's
secret store and its API keys from ``tradepipe keys create``, never from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from connectors.ingress.runtime import open_key_store
from streams.errors import ConfigError
from streams.settings import Profile, Settings

__all__ = [
    "CURL_EXAMPLE",
    "DEV_KEY_NAME",
    "DevKey",
    "dev_secrets_key",
    "issue_dev_key",
    "signed_curl_example",
]

DEV_KEY_NAME = "tradepipe-up-dev"
_MASTER_KEY_FILE = "ingress-dev-master.key"

# A signed POST /v1/orders with curl and openssl only, reading INGRESS_URL, KEY_ID and SECRET.
# docs/ingress.md carries the same text (a test keeps them equal and runs it).
CURL_EXAMPLE = """\
BODY='{"intent_id":"doc-'"$(openssl rand -hex 8)"'","account_id":"ACC1","client_order_id":"doc-'"$(openssl rand -hex 4)"'","instrument_token":"2885","exchange":"NSE","side":"BUY","quantity":1,"order_type":"LIMIT","price":"2450.05"}'
TS=$(date +%s)
NONCE=$(openssl rand -hex 16)
DIGEST=$(printf '%s' "$BODY" | openssl dgst -sha256 -r | cut -d' ' -f1)
SIG=$(printf 'TP1-HMAC-SHA256\\nPOST\\n/v1/orders\\n\\n%s\\n%s\\n%s' "$TS" "$NONCE" "$DIGEST" \\
  | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1)
curl -sS -X POST "$INGRESS_URL/v1/orders" \\
  -H 'Content-Type: application/json' \\
  -H "X-TP-Key-Id: $KEY_ID" -H "X-TP-Timestamp: $TS" \\
  -H "X-TP-Nonce: $NONCE" -H "X-TP-Signature: $SIG" \\
  --data-binary "$BODY" -w '\\n%{http_code}\\n'
"""  # noqa: E501 — the request body is one shell line, as users paste it


@dataclass(frozen=True)
class DevKey:
    """An API key issued for one ``tradepipe up`` run (submit and read scopes)."""

    key_id: str
    secret: str


def _refuse_outside_dev(settings: Settings) -> None:
    if settings.profile is not Profile.DEV:
        raise ConfigError(
            "the development ingress key is for TRADEPIPE_PROFILE=dev only; "
            "in production issue keys with `tradepipe keys create`"
        )


def dev_secrets_key(settings: Settings) -> str:
    """The master key to run the dev ingress with: the configured one, else the data folder's.

    The file is created once (mode 0600) so that keys issued by earlier runs in the same
    Postgres schema still decrypt.
    """
    _refuse_outside_dev(settings)
    if settings.ingress.secrets_key is not None:
        return settings.ingress.secrets_key.get_secret_value()
    path: Path = settings.data_dir / _MASTER_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(Fernet.generate_key().decode())
    return path.read_text(encoding="utf-8").strip()


async def issue_dev_key(settings: Settings) -> DevKey:
    """Revoke the keys of earlier runs and issue this run's (tables created if missing)."""
    _refuse_outside_dev(settings)
    store = await open_key_store(settings)
    try:
        for key in await store.list():
            if key.name == DEV_KEY_NAME and key.revoked_at is None:
                await store.revoke(key.key_id)
        issued = await store.create(DEV_KEY_NAME, scopes=["submit", "read"])
    finally:
        await store.pool.close()
    return DevKey(key_id=issued.key_id, secret=issued.secret)


def signed_curl_example(url: str, key: DevKey) -> str:
    """Shell lines that send one signed order to the ingress at ``url`` with ``key``."""
    return f"export INGRESS_URL={url} KEY_ID={key.key_id} SECRET={key.secret}\n" + CURL_EXAMPLE
