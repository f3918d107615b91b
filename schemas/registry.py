"""Schema registries behind one interface: the committed lock file, or a Confluent registry.

Subjects follow Confluent's TopicNameStrategy (``<topic>-value``). An id names one schema
text, whatever subject it is registered under, as in Confluent's registry.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streams.errors import ConfigError, SchemaNotFound

__all__ = [
    "AVRO_DIR",
    "HISTORY_DIR",
    "LOCK_FILE",
    "ConfluentRegistry",
    "FileRegistry",
    "SchemaRegistry",
    "load_avsc",
    "subject_for",
]

SCHEMAS_DIR = Path(__file__).resolve().parent
AVRO_DIR = SCHEMAS_DIR / "avro"
HISTORY_DIR = SCHEMAS_DIR / "history"
LOCK_FILE = SCHEMAS_DIR / "registry.lock.json"


def subject_for(topic: str) -> str:
    """The value subject of a topic (TopicNameStrategy)."""
    return f"{topic}-value"


def load_avsc(path: Path) -> dict[str, Any]:
    """Read one ``.avsc`` file."""
    with path.open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def _full_key(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


class SchemaRegistry(Protocol):
    """What the codec needs from a registry."""

    def id_for(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of ``schema`` under ``subject`` (registering it where the registry allows)."""
        ...

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        """The writer schema with this id; ``SchemaNotFound`` if unknown."""
        ...


@dataclass(frozen=True, slots=True)
class LockedSchema:
    schema_id: int
    name: str
    version: int
    path: str


class FileRegistry:
    """Ids from ``schemas/registry.lock.json``; schema texts from ``schemas/history``.

    The lock is committed; ``tradepipe schemas lock`` adds a version when an ``.avsc``
    changes and ``tradepipe schemas check`` fails while one is unlocked.
    """

    def __init__(self, lock_file: Path = LOCK_FILE) -> None:
        self.lock_file = lock_file
        self._by_id: dict[int, dict[str, Any]] = {}
        self._id_by_key: dict[str, int] = {}
        self._subjects: dict[str, list[int]] = {}
        self._load()

    def _load(self) -> None:
        if not self.lock_file.exists():
            raise ConfigError(f"schema lock file not found: {self.lock_file}")
        lock = json.loads(self.lock_file.read_text(encoding="utf-8"))
        base = self.lock_file.parent
        for entry in lock["schemas"]:
            schema = load_avsc(base / entry["path"])
            self._by_id[int(entry["id"])] = schema
            self._id_by_key[_full_key(schema)] = int(entry["id"])
        self._subjects = {k: [int(i) for i in v] for k, v in lock["subjects"].items()}

    def id_for(self, subject: str, schema: dict[str, Any]) -> int:
        schema_id = self._id_by_key.get(_full_key(schema))
        if schema_id is None:
            raise SchemaNotFound(
                f"schema for {subject} is not in {self.lock_file.name}; "
                "run `tradepipe schemas lock`"
            )
        if schema_id not in self._subjects.get(subject, ()):
            raise SchemaNotFound(f"schema id {schema_id} is not registered under {subject}")
        return schema_id

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaNotFound(f"unknown schema id {schema_id}") from None

    def subjects(self) -> dict[str, list[int]]:
        """Subject → ids, oldest first."""
        return {k: list(v) for k, v in self._subjects.items()}


class ConfluentRegistry:
    """A Confluent-compatible registry through ``confluent_kafka.schema_registry``.

    Lookups are cached; ids are registered on first use (set ``auto_register=False``
    where producers must only use schemas that CI registered).
    """

    def __init__(self, url: str, *, basic_auth: str | None = None, auto_register: bool = True):
        from confluent_kafka.schema_registry import SchemaRegistryClient

        conf: dict[str, Any] = {"url": url}
        if basic_auth:
            conf["basic.auth.user.info"] = basic_auth
        self._client = SchemaRegistryClient(conf)
        self._auto_register = auto_register
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def id_for(self, subject: str, schema: dict[str, Any]) -> int:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        key = (subject, _full_key(schema))
        with self._lock:
            cached = self._ids.get(key)
            if cached is not None:
                return cached
            text = json.dumps(schema)
            try:
                if self._auto_register:
                    schema_id = int(self._client.register_schema(subject, Schema(text, "AVRO")))
                else:
                    found = self._client.lookup_schema(subject, Schema(text, "AVRO"))
                    if found.schema_id is None:
                        raise SchemaNotFound(f"{subject}: schema not registered")
                    schema_id = int(found.schema_id)
            except SchemaRegistryError as exc:
                raise SchemaNotFound(f"registry refused {subject}: {exc}") from exc
            self._ids[key] = schema_id
            self._schemas[schema_id] = schema
            return schema_id

    def schema_for(self, schema_id: int) -> dict[str, Any]:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        with self._lock:
            cached = self._schemas.get(schema_id)
            if cached is not None:
                return cached
            try:
                found = self._client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                raise SchemaNotFound(f"unknown schema id {schema_id}: {exc}") from exc
            if found.schema_str is None:
                raise SchemaNotFound(f"schema id {schema_id} has no text")
            schema: dict[str, Any] = json.loads(found.schema_str)
            self._schemas[schema_id] = schema
            return schema
