"""Schema registries (file lock and Confluent-compatible) and the BACKWARD_TRANSITIVE check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from schemas.codec import AvroCodec, current_schema
from schemas.compat import check, is_backward_compatible, lock
from schemas.records import OrderIntent
from schemas.registry import AVRO_DIR, HISTORY_DIR, LOCK_FILE, ConfluentRegistry, FileRegistry
from streams.errors import SchemaNotFound
from tests.factories import make_intent
from tests.fakes.schema_registry import FakeSchemaRegistry


@pytest.fixture
def schema_tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of schemas/avro, schemas/history and the lock to change freely."""
    root = tmp_path / "schemas"
    shutil.copytree(AVRO_DIR, root / "avro")
    shutil.copytree(HISTORY_DIR, root / "history")
    shutil.copy(LOCK_FILE, root / "registry.lock.json")
    return root / "avro", root / "history", root / "registry.lock.json"


def test_committed_schemas_are_locked_and_compatible() -> None:
    assert check() == []


def test_file_registry_gives_one_id_per_schema_across_subjects() -> None:
    registry = FileRegistry()
    schema = current_schema(OrderIntent)
    ids = {
        registry.id_for(f"{t}-value", schema)
        for t in ("orders.intents.v1", "orders.validated.v1", "orders.approved.v1")
    }
    assert len(ids) == 1
    assert registry.schema_for(ids.pop())["name"] == "OrderIntent"


def test_file_registry_refuses_a_schema_under_a_foreign_subject() -> None:
    with pytest.raises(SchemaNotFound, match=r"not registered under md\.ticks\.v1-value"):
        FileRegistry().id_for("md.ticks.v1-value", current_schema(OrderIntent))


def test_file_registry_refuses_an_unlocked_schema() -> None:
    changed = dict(current_schema(OrderIntent), doc="changed")
    with pytest.raises(SchemaNotFound, match="tradepipe schemas lock"):
        FileRegistry().id_for("orders.intents.v1-value", changed)


def test_adding_an_optional_field_is_locked_as_a_new_version(
    schema_tree: tuple[Path, Path, Path],
) -> None:
    # Arrange
    avro_dir, history, lock_file = schema_tree
    path = avro_dir / "Fill.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append(
        {"name": "liquidity", "type": ["null", "string"], "default": None, "doc": "maker or taker"}
    )
    path.write_text(json.dumps(schema))
    # Act
    before = check(avro_dir, history, lock_file)
    added = lock(avro_dir, history, lock_file)
    # Assert
    assert [p.record for p in before] == ["Fill"]
    assert added == ["Fill v2 id 8"]
    assert check(avro_dir, history, lock_file) == []
    assert FileRegistry(lock_file).id_for("exec.fills.v1-value", schema) == 8


def test_adding_a_required_field_breaks_backward_compatibility(
    schema_tree: tuple[Path, Path, Path],
) -> None:
    avro_dir, history, lock_file = schema_tree
    path = avro_dir / "Fill.avsc"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "liquidity", "type": "string", "doc": "maker or taker"})
    path.write_text(json.dumps(schema))

    problems = check(avro_dir, history, lock_file)

    assert any("breaks BACKWARD_TRANSITIVE with v1.avsc" in p.message for p in problems)
    with pytest.raises(ValueError, match="Fill"):
        lock(avro_dir, history, lock_file)


def test_compatibility_is_checked_against_every_kept_version() -> None:
    v1 = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}
    v2 = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "long", "default": 0}],
    }
    v3 = {"type": "record", "name": "R", "fields": [{"name": "b", "type": "long"}]}
    assert is_backward_compatible(v2, v1)[0]
    assert is_backward_compatible(v3, v2)[0]
    ok, detail = is_backward_compatible(v3, v1)
    assert not ok and "b" in detail


def test_confluent_registry_registers_and_resolves_ids_through_the_real_client() -> None:
    with FakeSchemaRegistry() as server:
        intent = make_intent(intent_id="i-1")
        codec = AvroCodec(ConfluentRegistry(server.url))
        data = codec.encode("orders.intents.v1", intent)
        # a second client (a consumer elsewhere) resolves the id from the registry
        reader = AvroCodec(ConfluentRegistry(server.url, auto_register=False))
        assert reader.decode(data, OrderIntent) == intent
        assert server.subjects == {"orders.intents.v1-value": [1]}


def test_confluent_registry_without_auto_register_refuses_an_unknown_schema() -> None:
    with FakeSchemaRegistry() as server:
        codec = AvroCodec(ConfluentRegistry(server.url, auto_register=False))
        with pytest.raises(SchemaNotFound, match=r"refused orders\.intents\.v1-value"):
            codec.encode("orders.intents.v1", make_intent(intent_id="i-1"))
