"""Schema evolution: the lock of kept versions and the BACKWARD_TRANSITIVE check.

Kept versions live in ``schemas/history/<Record>/v<n>.avsc``; ids in
``schemas/registry.lock.json``. The rules come from Apache Avro's own
``ReaderWriterCompatibilityChecker`` (reader = the new schema, writer = each kept one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas.contracts import TOPIC_VALUE_TYPES
from schemas.records import RECORD_TYPES
from schemas.registry import AVRO_DIR, HISTORY_DIR, LOCK_FILE, load_avsc, subject_for

__all__ = ["CompatProblem", "check", "is_backward_compatible", "lock"]


@dataclass(frozen=True, slots=True)
class CompatProblem:
    """One reason the current schemas cannot ship."""

    record: str
    message: str


def _parse(schema: dict[str, Any]) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def is_backward_compatible(new: dict[str, Any], old: dict[str, Any]) -> tuple[bool, str]:
    """Can a reader on ``new`` read data written with ``old``? With the checker's reason."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]  # avro is untyped
    result = checker.get_compatibility(_parse(new), _parse(old))
    ok = result.compatibility is SchemaCompatibilityType.compatible
    detail = "; ".join(
        f"{m} at {'/'.join(str(p) for p in result.locations)}" for m in result.messages
    )
    return ok, detail


def _versions(name: str, history: Path) -> list[Path]:
    folder = history / name
    if not folder.is_dir():
        return []
    return sorted(folder.glob("v*.avsc"), key=lambda p: int(p.stem[1:]))


def check(
    avro_dir: Path = AVRO_DIR, history: Path = HISTORY_DIR, lock_file: Path = LOCK_FILE
) -> list[CompatProblem]:
    """Every problem with the current ``.avsc`` files: incompatible, or not locked."""
    problems: list[CompatProblem] = []
    locked = (
        json.loads(lock_file.read_text(encoding="utf-8")) if lock_file.exists() else {"schemas": []}
    )
    locked_paths = {entry["path"] for entry in locked["schemas"]}
    for name in RECORD_TYPES:
        current = load_avsc(avro_dir / f"{name}.avsc")
        versions = _versions(name, history)
        for old_path in versions:
            ok, detail = is_backward_compatible(current, load_avsc(old_path))
            if not ok:
                problems.append(
                    CompatProblem(
                        name, f"breaks BACKWARD_TRANSITIVE with {old_path.name}: {detail}"
                    )
                )
        if not versions or load_avsc(versions[-1]) != current:
            problems.append(
                CompatProblem(
                    name, "changed since the last kept version; run `tradepipe schemas lock`"
                )
            )
        for path in versions:
            rel = str(path.relative_to(lock_file.parent))
            if rel not in locked_paths:
                problems.append(CompatProblem(name, f"{rel} has no id in {lock_file.name}"))
    return problems


def lock(
    avro_dir: Path = AVRO_DIR, history: Path = HISTORY_DIR, lock_file: Path = LOCK_FILE
) -> list[str]:
    """Keep a new version of every changed ``.avsc`` (if compatible) and give it an id."""
    incompatible = [p for p in check(avro_dir, history, lock_file) if "breaks" in p.message]
    if incompatible:
        raise ValueError("; ".join(f"{p.record}: {p.message}" for p in incompatible))
    locked = (
        json.loads(lock_file.read_text(encoding="utf-8"))
        if lock_file.exists()
        else {"schemas": [], "subjects": {}}
    )
    next_id = max((int(e["id"]) for e in locked["schemas"]), default=0) + 1
    added: list[str] = []
    for name in RECORD_TYPES:
        current = load_avsc(avro_dir / f"{name}.avsc")
        versions = _versions(name, history)
        if versions and load_avsc(versions[-1]) == current:
            continue
        version = len(versions) + 1
        path = history / name / f"v{version}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
        rel = str(path.relative_to(lock_file.parent))
        locked["schemas"].append({"id": next_id, "name": name, "version": version, "path": rel})
        for topic, record_type in TOPIC_VALUE_TYPES.items():
            if record_type.__name__ == name:
                locked["subjects"].setdefault(subject_for(topic), []).append(next_id)
        added.append(f"{name} v{version} id {next_id}")
        next_id += 1
    lock_file.write_text(json.dumps(locked, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added
