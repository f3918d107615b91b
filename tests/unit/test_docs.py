"""Documentation that must not drift from the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _variables(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_every_setting_is_documented_in_configuration_md() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [v for v in _variables(Settings, "TRADEPIPE_") if f"`{v}`" not in text]
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```")]
    assert [line.split("#")[0].strip() for line in block] == ["make up", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
