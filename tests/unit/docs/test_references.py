"""The repository stands on its own: nothing points at files a user does not have, and every
link between the docs (and every ``docs/…`` path named in code) leads somewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.unit.docs.commands import ROOT, doc_files

# Built from pieces so that this file does not match itself.
_OUTSIDE = re.compile(
    "|".join(
        [
            r"(?-i:\b" + "DESIGN" + r")",
            r"(?-i:\b" + "STYLE" + r"\b)",
            r"\.\./" + "shared",
            "/work/" + "shared",
            "design " + "brief",
            r"(?<!\d )" + "\u00a7" + r"\s?\d",  # a section sign, but not "RFC 9110 \u00a75.3"
            r"\bissue\s+#?\d+",
        ]
    ),
    re.IGNORECASE,
)
_TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".json", ".cfg", ".ini", ".sh", ".txt"}
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_DOCS_PATH = re.compile(r"\bdocs/([\w-]+\.md)")


def _repo_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    files = []
    for name in sorted(set(out.splitlines())):  # a file being merged is listed once per stage
        path = ROOT / name
        named = path.name in {"Makefile", "Dockerfile", "run", ".dockerignore", ".gitignore"}
        if path.is_file() and (path.suffix in _TEXT_SUFFIXES or named):
            files.append(path)
    return files


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {
        _anchor(line.lstrip("#"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def test_nothing_refers_to_files_outside_the_repository() -> None:
    # Arrange
    files = [p for p in _repo_files() if p != Path(__file__).resolve()]
    # Act
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    # Assert
    assert len(files) > 100
    assert not hits, "\n".join(
        [
            "these refer to documents users do not have; point at a docs/ page or state the fact:",
            *hits,
        ]
    )


def test_links_between_docs_lead_to_a_file_and_heading_that_exist() -> None:
    # Arrange
    broken = []
    checked = 0
    for page in doc_files():
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            for target in _LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue  # http:, https:, mailto:
                # Act
                checked += 1
                name, _, anchor = target.partition("#")
                linked = (page.parent / name).resolve() if name else page
                where = f"{page.relative_to(ROOT)}:{number}: ({target})"
                if not linked.exists():
                    broken.append(f"{where} no such file")
                elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                    broken.append(f"{where} no heading #{anchor} in {linked.name}")
    # Assert
    assert checked > 20
    assert not broken, "\n".join(broken)


def test_every_docs_page_named_in_the_repository_exists() -> None:
    # Arrange
    missing = []
    # Act
    for path in _repo_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            missing += [
                f"{path.relative_to(ROOT)}:{number}: docs/{name}"
                for name in _DOCS_PATH.findall(line)
                if not (ROOT / "docs" / name).exists()
            ]
    # Assert
    assert not missing, "\n".join(["these name a docs/ page that does not exist:", *missing])


def test_the_reference_check_sees_what_it_is_for() -> None:
    # Arrange: every pattern must catch its example, and ordinary words must pass
    caught = [
        "see " + "DESIGN" + ".md for the topics",
        "(" + "STYLE" + ".md)",
        "../" + "shared/notes",
        "as the design " + "brief says",
        "\u00a7" + "7.3",
        "issue" + " 4, item 6",
    ]
    passed = [
        "the sink's design",
        "a shared machine",
        "a style of logging",
        "tissue 4",
        "RFC 9110 \u00a75.3",
    ]
    # Act / Assert
    assert all(_OUTSIDE.search(text) for text in caught)
    assert not any(_OUTSIDE.search(text) for text in passed)
    assert _anchor("3. End offsets read low") == "3-end-offsets-read-low"
