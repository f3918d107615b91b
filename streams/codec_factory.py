"""The schema registry and Avro codec chosen by settings (no Faust, for plain-client processes)."""

from __future__ import annotations

from schemas.codec import AvroCodec
from schemas.registry import ConfluentRegistry, FileRegistry, SchemaRegistry
from streams.settings import RegistrySettings, Settings

__all__ = ["make_codec", "make_registry"]


def make_registry(registry: RegistrySettings) -> SchemaRegistry:
    """The registry chosen by settings."""
    if registry.kind == "confluent":
        auth = registry.basic_auth.get_secret_value() if registry.basic_auth else None
        return ConfluentRegistry(registry.url, basic_auth=auth)
    return FileRegistry(registry.lock_file) if registry.lock_file else FileRegistry()


def make_codec(settings: Settings) -> AvroCodec:
    """An Avro codec on the configured registry."""
    return AvroCodec(make_registry(settings.registry))
