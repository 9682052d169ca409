# eventlab: two commands for a newcomer, `make run` and `make test`; each does its own set-up.
#
#   make run     start the embedded emulator, execute every notebook into build/workbook, stop
#   make test    unit tests once, then integration tests and notebooks on each backend
#   make lab     JupyterLab in notebooks/ with the embedded emulator running
#   make bench   the full set of benchmark workloads, compared with data/baselines (bench-smoke: CI's set)
#   make setup   build both environments from their locks (every target above builds what it needs):
#                .venv, the workbook (any Python 3.11-3.14; setup-workbook alone), and
#                .venv-localstack, LocalStack 2026.3.0 (Python 3.13; setup-localstack alone)
#   make lock    re-resolve both locks: the workbook's as of WORKBOOK_LOCK_DATE, LocalStack's as of
#                LOCALSTACK_LOCK_DATE
#
# BACKEND chooses the embedded emulator: localstack (the default for run, lab, bench), ministack,
# or for `make test` all (the default: one pass per backend). PYTEST_ARGS goes to every pytest.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The workbook: eventlab, today's boto3, pandas, JupyterLab, pytest, MiniStack; no LocalStack.
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
WORKBOOK_LOCK_DATE := 2026-12-01
# LocalStack 2026.3.0 and eventlab's plugin for it (emulators/localstack), started as a server.
# Outside build/, so `make clean` keeps it; the library finds it through EVENTLAB_LOCALSTACK_VENV.
LS_DIR    := emulators/localstack
LS_VENV   := .venv-localstack
LS_PY     := $(LS_VENV)/bin/python
LS_STAMP  := $(LS_VENV)/.installed
LOCALSTACK_LOCK_DATE := 2026-03-31
export EVENTLAB_LOCALSTACK_VENV := $(abspath $(LS_VENV))

PIP := -m pip install --quiet --disable-pip-version-check
FINDER := scripts/find-python lib/eventlab/runtime/interpreters.py
PYTEST_ARGS ?=

BACKENDS := localstack ministack
BACKEND ?=
# run, lab, bench, up, status, down: one backend (EVENTLAB_BACKEND too, as the library reads it).
RUN_BACKEND := $(or $(BACKEND),$(EVENTLAB_BACKEND),localstack)
# test: the backends to run the integration tests and notebooks on, one pass each.
TEST_BACKENDS := $(if $(filter all,$(or $(BACKEND),all)),$(BACKENDS),$(BACKEND))
# LocalStack's environment is built only for the targets whose backend needs it.
RUN_NEEDS  := setup-workbook setup-lambda $(if $(filter localstack,$(RUN_BACKEND)),setup-localstack)
TEST_NEEDS := setup-workbook setup-lambda setup-browser $(if $(filter localstack,$(TEST_BACKENDS)),setup-localstack)
EVENTLAB  := EVENTLAB_BACKEND=$(RUN_BACKEND) $(VENV)/bin/eventlab

.PHONY: help setup setup-workbook setup-localstack setup-lambda setup-browser check-backend test run lab bench bench-smoke \
        up status down lock lint clean distclean

help:
	@sed -n '3,15p' Makefile | sed 's/^# \{0,1\}//'

setup: setup-workbook setup-localstack setup-lambda
setup-workbook: $(STAMP)
setup-localstack: $(LS_STAMP)

# The Lambda runtime folders (.venv-lambda/python3.X: awslambdaric and boto3 for each Python a
# handler may run on) from emulators/lambda-runtime/requirements.lock; seconds when up to date.
setup-lambda: $(STAMP)
	@$(PY) -m eventlab.runtime.lambda_runtimes build >/dev/null

# Each environment is rebuilt only when its lock or metadata changed, so a second run takes
# seconds; the stamp is written only when everything installed, so a failed build never looks
# ready. A .venv from before the split (LocalStack inside it) is rebuilt from scratch.
$(STAMP): requirements.lock pyproject.toml emulators/lambda-runtime/pyproject.toml $(FINDER)
	@python="$$(scripts/find-python workbook)"; \
	if [ -x $(PY) ] && { ! $(PY) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))' 2>/dev/null \
	    || $(PY) -c 'import importlib.metadata as m; m.version("localstack-core")' 2>/dev/null; }; then \
	    echo "$(VENV) holds another Python or LocalStack (from before the split); rebuilding it"; rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$python ($$("$$python" --version))"; "$$python" -m venv $(VENV); fi; \
	rm -f $(STAMP); \
	$(PY) $(PIP) --no-deps -r requirements.lock && \
	$(PY) $(PIP) --no-deps --no-build-isolation -e . -e emulators/lambda-runtime || { \
	    echo "make: building $(VENV) failed (above: the package pip could not install). Check access to PyPI," >&2; \
	    echo "then run \`make setup-workbook\` again; \`rm -rf $(VENV)\` first starts it over." >&2; exit 1; }; \
	touch $(STAMP); echo "environment ready: $(VENV) ($$($(PY) --version))"

$(LS_STAMP): $(LS_DIR)/requirements.lock $(LS_DIR)/pyproject.toml emulators/lambda-runtime/pyproject.toml $(FINDER)
	@python="$$(scripts/find-python localstack)"; \
	if [ -x $(LS_PY) ] && ! $(LS_PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then \
	    echo "$(LS_VENV) was built with another Python; rebuilding it"; rm -rf $(LS_VENV); fi; \
	if [ ! -x $(LS_PY) ]; then echo "creating $(LS_VENV) with $$python ($$("$$python" --version))"; "$$python" -m venv $(LS_VENV); fi; \
	rm -f $(LS_STAMP); \
	$(LS_PY) $(PIP) --no-deps -r $(LS_DIR)/requirements.lock && \
	$(LS_PY) $(PIP) --no-deps --no-build-isolation -e $(LS_DIR) -e emulators/lambda-runtime || { \
	    echo "make: building $(LS_VENV) failed (above: the package pip could not install). Check access to PyPI," >&2; \
	    echo "then run \`make setup-localstack\` again; \`rm -rf $(LS_VENV)\` first starts it over." >&2; \
	    echo "Or do without LocalStack: make test BACKEND=ministack / make run BACKEND=ministack" >&2; exit 1; }; \
	$(LS_PY) -m eventlab_localstack.catalog >/dev/null || echo "make: LocalStack's service catalog index was not built; the first LocalStack start builds it (in a child process)" >&2; \
	touch $(LS_STAMP); echo "environment ready: $(LS_VENV) ($$($(LS_PY) --version), LocalStack for the embedded emulator)"

# Headless Chromium for the tests of the results page and of `make lab` (Debian's chromium
# package): installed once when missing, with sudo when not root. Without it those tests skip,
# except under CI=true, where this step fails instead.
setup-browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then exit 0; fi; \
	mkdir -p build; log=build/apt-chromium.log; \
	if [ "$$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi; \
	if command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the page tests (a few minutes, once; log: $$log)"; \
	    { DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium \
	      || { $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q chromium; }; } >$$log 2>&1 \
	      && exit 0; fi; \
	echo "make: no headless Chromium (install Debian's chromium package, see $$log): the page tests skip without it" >&2; \
	if [ -n "$${CI:-}" ] && [ "$${CI:-}" != false ]; then exit 1; fi

# A backend name that does not exist is refused before anything is built.
check-backend:
	@for b in $(if $(filter test,$(MAKECMDGOALS)),$(TEST_BACKENDS),$(RUN_BACKEND)); do \
	    case " $(BACKENDS) " in *" $$b "*) ;; *) \
	        echo "make: BACKEND=$$b is not a backend; use one of: $(BACKENDS)$(if $(filter test,$(MAKECMDGOALS)), or all)" >&2; exit 2;; esac; \
	done

# Unit tests once (in .venv; the LocalStack plugin's own tests in .venv-localstack when LocalStack
# is tested), then the integration tests and notebooks once per backend. The backends' passes run
# side by side (most of a pass waits on the emulator: timeouts, batching windows, pollers), each
# with its own emulator: the first prints as it goes, the others into build/test-<backend>.log,
# shown when they end. TEST_JOBS=1 runs them one after another. Each pass, the unit tests' too,
# runs on TEST_WORKERS pytest-xdist workers; a backend's workers share the pass's one emulator
# (TEST_WORKERS=1: one process). Every pass runs; the target fails when any did, after a summary
# line per pass.
TEST_JOBS ?= 2
TEST_WORKERS ?= 2
WORKER_ARGS := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal)
test: check-backend $(TEST_NEEDS)
	@failed=0; summary=""; declare -A pids; mkdir -p build; \
	pass() { local name="$$1"; shift; echo "== $$name"; \
	    if "$$@"; then summary+="make test: $$name: passed"$$'\n'; \
	    else summary+="make test: $$name: FAILED"$$'\n'; failed=1; fi; }; \
	finish() { local rc=0; wait "$$2" || rc=$$?; cat "build/test-$$1.log"; return $$rc; }; \
	pass "unit tests ($$($(PY) --version))" $(PY) -m pytest tests/unit $(WORKER_ARGS) $(PYTEST_ARGS); \
	$(if $(filter localstack,$(TEST_BACKENDS)),pass "LocalStack plugin tests ($(LS_VENV))" \
	    $(LS_PY) -m pytest tests/localstack $(PYTEST_ARGS);) \
	if [ "$(TEST_JOBS)" != 1 ]; then for backend in $(wordlist 2,9,$(TEST_BACKENDS)); do \
	    echo "== integration tests and notebooks on $$backend: started beside the next pass, output in build/test-$$backend.log"; \
	    env EVENTLAB_BACKEND=$$backend $(PY) -m pytest tests/integration $(WORKER_ARGS) $(PYTEST_ARGS) >"build/test-$$backend.log" 2>&1 & \
	    pids[$$backend]=$$!; done; fi; \
	for backend in $(TEST_BACKENDS); do [ -n "$${pids[$$backend]:-}" ] || \
	    pass "integration tests and notebooks on $$backend" \
	        env EVENTLAB_BACKEND=$$backend $(PY) -m pytest tests/integration $(WORKER_ARGS) $(PYTEST_ARGS); done; \
	for backend in $(TEST_BACKENDS); do [ -z "$${pids[$$backend]:-}" ] || \
	    pass "integration tests and notebooks on $$backend (ran beside the pass above)" finish $$backend "$${pids[$$backend]}"; done; \
	printf '%s' "$$summary"; exit $$failed

run: check-backend $(RUN_NEEDS)
	$(EVENTLAB) run -p cases=all

lab: check-backend $(RUN_NEEDS)
	$(EVENTLAB) lab

bench: check-backend $(RUN_NEEDS)
	$(EVENTLAB) bench --set full

bench-smoke: check-backend $(RUN_NEEDS)
	$(EVENTLAB) bench --set smoke

up: check-backend $(RUN_NEEDS)
	$(EVENTLAB) up

status: check-backend setup-workbook
	$(EVENTLAB) status

down: check-backend setup-workbook
	$(EVENTLAB) down

# Both locks, each as of its date: the workbook on today's releases for Python 3.11-3.14,
# LocalStack as of March 2026 on 3.13 (its repository was archived with 2026.3.0).
lock: setup-workbook
	UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv lock --upgrade --exclude-newer $(WORKBOOK_LOCK_DATE) --python $(PY)
	$(VENV)/bin/uv export --quiet --frozen --all-groups --no-emit-project --no-hashes --format requirements-txt -o requirements.lock
	UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv lock --project $(LS_DIR) --upgrade --exclude-newer $(LOCALSTACK_LOCK_DATE) \
	    --python "$$(scripts/find-python localstack)"
	$(VENV)/bin/uv export --quiet --project $(LS_DIR) --frozen --all-groups --no-emit-project --no-hashes --format requirements-txt \
	    -o $(LS_DIR)/requirements.lock
	@echo "locks refreshed; run 'make setup' to install them"

lint: setup-workbook
	$(VENV)/bin/ruff check lib emulators tests benchmarks

clean:
	-[ -x $(VENV)/bin/eventlab ] && for b in $(BACKENDS); do EVENTLAB_BACKEND=$$b $(VENV)/bin/eventlab down; done
	rm -rf build

distclean: clean
	rm -rf $(VENV) $(LS_VENV)
