"""The libraries table of docs/architecture.md names exactly what the packages import."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from tests.unit.docs.commands import ROOT

PACKAGES = ("schemas", "streams", "connectors", "agents")
TABLE = ROOT / "docs" / "architecture.md"
COLUMN = "imported as"


def _imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Every module imported anywhere in the packages (lazy imports too) → files importing it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name, set()).add(str(path.relative_to(root)))
    return found


def _third_party(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    top: dict[str, set[str]] = {}
    for name, files in imports.items():
        first = name.split(".")[0]
        if first not in sys.stdlib_module_names and first not in PACKAGES:
            top.setdefault(first, set()).update(files)
    return top


def _table_modules(text: str) -> dict[str, int]:
    """Backticked module names of the table's "imported as" column → line number."""
    lines = text.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if line.startswith("|") and COLUMN in line), None
    )
    assert header is not None, f"{TABLE.name} has no table with an {COLUMN!r} column"
    cells = [c.strip() for c in lines[header].strip("|").split("|")]
    column = cells.index(COLUMN)
    modules: dict[str, int] = {}
    for number in range(header + 2, len(lines)):
        line = lines[number]
        if not line.startswith("|"):
            break
        cell = [c.strip() for c in line.strip().strip("|").split("|")][column]
        for module in re.findall(r"`([A-Za-z_][\w.]*)`", cell):
            modules[module] = number + 1
    return modules


def test_every_library_in_the_table_is_imported_by_the_packages() -> None:
    # Arrange
    imports = _imports()
    listed = _table_modules(TABLE.read_text(encoding="utf-8"))
    # Act
    unused = [
        f"docs/architecture.md:{line}: `{module}` is not imported by {', '.join(PACKAGES)}"
        for module, line in sorted(listed.items())
        if not any(name == module or name.startswith(module + ".") for name in imports)
    ]
    # Assert
    assert len(listed) > 10
    assert not unused, "\n".join(unused)


def test_every_third_party_import_of_the_packages_is_in_the_table() -> None:
    # Arrange
    third_party = _third_party(_imports())
    listed = {module.split(".")[0] for module in _table_modules(TABLE.read_text("utf-8"))}
    # Act
    missing = [
        f"`{module}` (imported by {', '.join(sorted(files)[:3])}) is not in the table"
        for module, files in sorted(third_party.items())
        if module not in listed
    ]
    # Assert
    assert "faust" in third_party
    assert not missing, "\n".join([*missing, f"add a row to {COLUMN!r} in docs/architecture.md"])


def test_the_check_sees_a_library_nobody_imports(tmp_path: Path) -> None:
    # Arrange: a table that names a library the code does not import
    text = (
        "| need | library | imported as | why |\n|---|---|---|---|\n"
        "| circuit breaker | pybreaker | `pybreaker` | |\n"
        "| JSON | orjson | `orjson` | |\n"
    )
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "a.py").write_text("def f():\n    import orjson\n")
    # Act
    listed = _table_modules(text)
    imports = _imports(tmp_path)
    # Assert
    assert listed == {"pybreaker": 3, "orjson": 4}
    assert set(imports) == {"orjson"}
