"""The error hierarchy: one root, and a ``retriable`` attribute callers branch on."""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "ConfigError",
    "DecodeError",
    "IllegalTransition",
    "IncompatibleSchema",
    "InvalidInput",
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


class ConfigError(TradepipeError):
    """Settings or files that cannot work; fix the configuration and start again."""

    code = "config"


class InvalidInput(TradepipeError):
    """Input from a user or producer that fails validation; nothing was written."""

    code = "invalid_input"


class DecodeError(TradepipeError):
    """Bytes that do not decode as the topic's contract (a poison record)."""

    code = "decode_error"


class SchemaNotFound(DecodeError):
    """A schema id that the registry does not know."""

    code = "unknown_schema_id"


class IncompatibleSchema(TradepipeError):
    """A schema change that breaks the topic's compatibility rule."""

    code = "incompatible_schema"


class IllegalTransition(TradepipeError):
    """An order lifecycle transition the state machine refuses."""

    code = "illegal_transition"


class BrokerUnavailable(TradepipeError):
    """Kafka could not be reached or did not acknowledge in time."""

    retriable = True
    code = "broker_unavailable"


class StoreUnavailable(TradepipeError):
    """Redis could not be reached; callers that guard security fail closed."""

    retriable = True
    code = "store_unavailable"


class SinkUnavailable(TradepipeError):
    """Postgres could not be reached; the sink backs off and resumes."""

    retriable = True
    code = "sink_unavailable"


class VenueError(TradepipeError):
    """A broker/venue call failed; ``retriable`` says whether a retry may help."""

    code = "venue_error"

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable
