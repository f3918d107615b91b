"""The error hierarchy: one root, and attributes callers branch on.

``retriable`` says whether trying again may help; ``exit_code`` is what the ``tradepipe``
command exits with when the error ends it (1 a runtime failure, 2 bad usage or input, see
``streams.exits``); ``hint`` is the short advice printed after the message.
"""

from __future__ import annotations

__all__ = [
    "AuditChainBroken",
    "BrokerUnavailable",
    "ConfigError",
    "DecodeError",
    "IllegalTransition",
    "IncompatibleSchema",
    "InvalidInput",
    "ProcessFailed",
    "SchemaNotFound",
    "SinkUnavailable",
    "StoreUnavailable",
    "TradepipeError",
    "VenueError",
]


class TradepipeError(Exception):
    """Root of every error tradepipe raises on purpose."""

    retriable: bool = False
    code: str = "error"
    exit_code: int = 1
    hint: str | None = None


class ConfigError(TradepipeError):
    """Settings or files that cannot work; fix the configuration and start again."""

    code = "config"
    exit_code = 2


class InvalidInput(TradepipeError):
    """Input from a user or producer that fails validation; nothing was written."""

    code = "invalid_input"
    exit_code = 2


class DecodeError(TradepipeError):
    """Bytes that do not decode as the topic's contract (a poison record)."""

    code = "decode_error"


class SchemaNotFound(DecodeError):
    """A schema id that the registry does not know."""

    code = "unknown_schema_id"


class IncompatibleSchema(TradepipeError):
    """A schema change that breaks the topic's compatibility rule."""

    code = "incompatible_schema"
    exit_code = 2


class IllegalTransition(TradepipeError):
    """An order lifecycle transition the state machine refuses."""

    code = "illegal_transition"


class BrokerUnavailable(TradepipeError):
    """Kafka could not be reached or did not acknowledge in time."""

    retriable = True
    code = "broker_unavailable"
    hint = "is `tradepipe up` running, and TRADEPIPE_KAFKA__BOOTSTRAP_SERVERS its address?"


class StoreUnavailable(TradepipeError):
    """Redis could not be reached; callers that guard security fail closed."""

    retriable = True
    code = "store_unavailable"
    hint = "is Redis running at TRADEPIPE_REDIS__URL?"


class SinkUnavailable(TradepipeError):
    """Postgres could not be reached; the sink backs off and resumes."""

    retriable = True
    code = "sink_unavailable"
    hint = "is PostgreSQL running at TRADEPIPE_POSTGRES__DSN?"


class VenueError(TradepipeError):
    """A broker/venue call failed; ``retriable`` says whether a retry may help."""

    code = "venue_error"

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class AuditChainBroken(TradepipeError):
    """The audit trail's hash chain does not verify: a row was edited, moved or removed."""

    code = "audit_chain_broken"


class ProcessFailed(TradepipeError):
    """A process the command runs or supervises failed (or one like it already runs)."""

    code = "process_failed"
