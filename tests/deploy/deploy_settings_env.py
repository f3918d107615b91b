"""Check that a block of TRADEPIPE_* environment variables is real tradepipe configuration.

pydantic-settings ignores unknown environment variables, so a typo such as
TRADEPIPE_KAFKA__BOOTSTRAP_SERVER would be silently dropped in production. Here every key must
name a Settings field, and the whole block must load.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from unittest import mock

from pydantic import BaseModel

from streams.settings import Settings

__all__ = ["assert_settings_env"]

_NOT_SETTINGS = frozenset({"HEALTHCHECK_URL"})  # read by the image's HEALTHCHECK, not by us


def _field_exists(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    annotation = field.annotation
    return (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and _field_exists(annotation, path[1:])
    )


def assert_settings_env(env: Mapping[str, str]) -> Settings:
    """Every TRADEPIPE_ key names a Settings field and the block loads; return the Settings."""
    keys = [key for key in env if key not in _NOT_SETTINGS]
    unknown = [key for key in keys if not key.startswith("TRADEPIPE_")]
    assert not unknown, f"variables tradepipe does not read: {unknown}"
    for key in keys:
        path = key.removeprefix("TRADEPIPE_").lower().split("__")
        assert _field_exists(Settings, path), f"{key} is not a Settings field"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADEPIPE_")}
    clean.update({key: str(env[key]) for key in keys})
    with mock.patch.dict(os.environ, clean, clear=True):
        return Settings()
