# Tokenwarden developer entry points. `make demo` and `make test` work on a fresh machine:
# each target installs what it needs first (Python venvs, npm packages) and is a no-op when current.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CHECKOV_VENV := .venv-checkov
DEMO_DIR ?= out/demo

.PHONY: demo test lint typecheck unit bench reliability install node-deps checkov-deps sentinel-content clean

install: $(VENV)/.stamp

$(VENV)/.stamp: requirements.txt requirements-dev.txt pyproject.toml sensor/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	# The app sensor is a package of its own; its dependencies are in requirements*.txt already.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e sensor
	touch $@

node-deps: node_modules/.stamp

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

checkov-deps: $(CHECKOV_VENV)/.stamp

$(CHECKOV_VENV)/.stamp: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

demo: install node-deps
	$(PY) -m tools.azurite run -- $(PY) -m tools.function_demo --out $(DEMO_DIR)

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

unit: install node-deps checkov-deps
	$(PY) -m pytest -q

test: lint typecheck unit

# infra/sentinel/analytic-rules.json: every rule's Sentinel form and metadata (a test fails when it is stale).
sentinel-content: install
	$(PY) -m tools.sentinel_content

bench: install node-deps
	$(PY) -m bench

# The fault suite's figures (docs/reliability.md, generated). Trial counts: RELIABILITY_CONCURRENCY_TRIALS,
# RELIABILITY_PROTECTION_TRIALS, RELIABILITY_LOST_ANSWER_TRIALS, RELIABILITY_KILL_STRIDE (see each fig_*.py).
reliability: install node-deps
	$(PY) -m bench.reliability

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules out .pytest_cache .mypy_cache .ruff_cache
