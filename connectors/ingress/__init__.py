"""The signed HTTP ingress: ``POST /v1/orders`` onto ``orders.intents.v1`` (docs/ingress.md).

Importing this package has no side effects; the server lives in ``server``, the client in
``client``, the CLI in ``cli``.
"""

from __future__ import annotations

from connectors.ingress.signing import sign, string_to_sign

__all__ = [
    # signing
    "sign",
    "string_to_sign",
]
