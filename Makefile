# eventlab: two commands for a newcomer, `make run` and `make test`; each does its own set-up.
#
#   make run     start the embedded LocalStack, execute every notebook into build/workbook, stop
#   make test    the test suite (unit, integration on the embedded LocalStack, notebooks)
#   make lab     JupyterLab in notebooks/ with the embedded LocalStack running
#   make bench   the full set of benchmark workloads, compared with data/baselines (bench-smoke: CI's set)
#   make setup   only build .venv from the lock (every target above does this first)
#   make lock    re-resolve the dependencies (as of LOCK_DATE) into uv.lock and requirements.lock

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
LOCK_DATE := 2026-03-31
PYTEST_ARGS ?=

.PHONY: help setup setup-lambda test run lab bench bench-smoke up status down lock lint clean distclean

help:
	@sed -n '3,8p' Makefile | sed 's/^# \{0,1\}//'

setup: $(STAMP) setup-lambda

# The Lambda runtime folders (.venv-lambda/python3.X) from emulators/lambda-runtime/requirements.lock.
setup-lambda: $(STAMP)
	@$(PY) -m eventlab.runtime.lambda_runtimes build >/dev/null

# Rebuilt only when the lock or the project metadata changed: a second run takes seconds.
$(STAMP): requirements.lock pyproject.toml scripts/find-python
	@python="$$(scripts/find-python)"; \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
	    echo "$(VENV) was built with another Python; rebuilding it"; rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$python"; "$$python" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "environment ready: $(VENV) ($$($(PY) --version))"

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

run: setup
	$(VENV)/bin/eventlab run

lab: setup
	$(VENV)/bin/eventlab lab

bench: setup
	$(VENV)/bin/eventlab bench --set full

bench-smoke: setup
	$(VENV)/bin/eventlab bench --set smoke

up: setup
	$(VENV)/bin/eventlab up

status: setup
	$(VENV)/bin/eventlab status

down: setup
	$(VENV)/bin/eventlab down

lock: setup
	UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv lock --exclude-newer $(LOCK_DATE) --python $(PY)
	$(VENV)/bin/uv export --frozen --all-groups --no-emit-project --no-hashes --format requirements-txt -o requirements.lock
	@echo "lock refreshed; run 'make setup' to install it"

lint: setup
	$(VENV)/bin/ruff check lib emulators tests benchmarks

clean:
	-[ -x $(VENV)/bin/eventlab ] && $(VENV)/bin/eventlab down
	rm -rf build

distclean: clean
	rm -rf $(VENV)
