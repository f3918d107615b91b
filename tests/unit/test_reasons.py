"""The reason-code enumeration and its generated documentation."""

from __future__ import annotations

from pathlib import Path

from agents.reasons import ReasonCode, Stage, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "reason-codes.md"


def test_reason_code_doc_matches_the_enumeration() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/reason-codes.md is stale; regenerate it (command in the file's header)"
    )


def test_every_reason_code_has_a_one_line_description_and_stage() -> None:
    for code in ReasonCode:
        assert code.description
        assert "\n" not in code.description
        assert isinstance(code.stage, Stage)


def test_reason_code_values_equal_their_names() -> None:
    assert all(code.value == code.name for code in ReasonCode)


def test_reason_code_is_a_plain_string_on_the_wire() -> None:
    assert ReasonCode.FAT_FINGER == "FAT_FINGER"
    assert f"{ReasonCode.MAX_NOTIONAL}" == "MAX_NOTIONAL"
