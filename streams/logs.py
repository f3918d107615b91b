"""structlog, set up once: JSON in production, console in development, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import structlog

__all__ = ["configure_logging", "redact"]

_SECRET_KEYS = re.compile(
    r"(secret|password|passwd|token|api_key|apikey|pin|totp|authorization|signature|dsn)", re.I
)
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@", re.I
)
_REDACTED = "***"
# Keys whose names look secret but carry no secret.
_NOT_SECRET = frozenset({"instrument_token", "token_count", "pin_required"})


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", value)
    if hasattr(value, "get_secret_value"):
        return _REDACTED
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: hide values of secret-looking keys and passwords inside URLs."""
    for key in list(event_dict):
        value = event_dict[key]
        if key not in _NOT_SECRET and _SECRET_KEYS.search(key) and value is not None:
            event_dict[key] = _REDACTED
        elif isinstance(value, dict):
            event_dict[key] = {
                k: (
                    _REDACTED if _SECRET_KEYS.search(str(k)) and k not in _NOT_SECRET else _scrub(v)
                )
                for k, v in value.items()
            }
        else:
            event_dict[key] = _scrub(value)
    return event_dict


_configured = False


def configure_logging(
    *, level: str = "INFO", json_output: bool = False, file: Path | None = None
) -> None:
    """Route structlog and stdlib logging to one handler (stderr, or ``file``)."""
    global _configured
    stream: Any = sys.stderr
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        stream = file.open("a", encoding="utf-8", buffering=1)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output or file is not None
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Faust leaves the root logger at DEBUG; raising it speeds agents up (docs/performance.md).
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    _configured = True
