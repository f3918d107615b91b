"""docs/topics.md lists exactly the topics the code declares, with their keys and records."""

from __future__ import annotations

import re

from schemas.contracts import TOPIC_VALUE_TYPES
from streams.settings import KafkaSettings
from streams.topics import all_topics
from tests.unit.docs.commands import ROOT

PAGE = ROOT / "docs" / "topics.md"
_KEYS = {"account_id": "account id", "instrument_token": "instrument token"}


def _rows() -> dict[str, tuple[str, str]]:
    """topic → (key cell, value cell) of the page's topic table."""
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3:
            named = re.fullmatch(r"`([a-z][\w.]*\.v\d+)`", cells[0])
            if named:
                rows[named.group(1)] = (cells[1], cells[2])
    return rows


def test_the_topics_page_lists_every_declared_topic_with_its_key_and_record() -> None:
    # Arrange
    declared = {spec.name: spec for spec in all_topics(KafkaSettings(), with_dlq=False)}
    rows = _rows()
    # Act
    wrong = []
    for name, spec in declared.items():
        if name not in rows:
            wrong.append(f"{name}: declared in streams/topics.py, missing from docs/topics.md")
            continue
        key, value = rows[name]
        if not key.startswith(_KEYS[spec.key]):
            wrong.append(f"{name}: key is {_KEYS[spec.key]!r}, the page says {key!r}")
        if f"`{TOPIC_VALUE_TYPES[name].__name__}`" not in value:
            wrong.append(f"{name}: value is {TOPIC_VALUE_TYPES[name].__name__}, page: {value!r}")
    wrong += [f"{name}: on docs/topics.md but not declared" for name in rows.keys() - declared]
    # Assert
    assert len(declared) >= 10
    assert not wrong, "\n".join(wrong)
