# Set-up and entry points. Every target installs what it needs into .venv first.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
PG_VERSION_DIR := $(firstword $(wildcard /etc/postgresql/*))

.PHONY: install test test-under-load lint lock demo ui bench mutate mutate-fast gateway-sim postgres chromium clean
DAGSTER_HOME ?= $(CURDIR)/.ibkr_pipeline/dagster_home

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), f"Python 3.12 needed, found {sys.version}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Every package at the version and hash requirements.lock names (make lock writes it from pyproject.toml; the
# lock is the whole closure, hence --no-deps), then the project itself: two installs a month apart get the same bytes.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP) $(RUNTIME_STAMP)

# make demo and make ui install the same locked set (it holds the test tools too: one lock, one truth).
$(RUNTIME_STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(RUNTIME_STAMP)

install: $(STAMP)

# PostgreSQL on 127.0.0.1:5432 backs the database tests; start it when it is down.
postgres:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $(notdir $(PG_VERSION_DIR)) main start; \
		for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	fi
	@pg_isready -h 127.0.0.1 -p 5432

# The browser tests drive Debian's Chromium: installed here when it is missing, never from inside a test.
chromium:
	@if ! command -v chromium >/dev/null; then \
		echo "installing Debian's chromium"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo "sudo -n" ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	@command -v chromium

# Two workers (pytest-xdist): every fixture owns its ports, directories and databases, so tests share nothing.
test: install postgres chromium lint
	$(BIN)/python -m pytest -q -n 2 ibkr_pipeline_tests

# The suite three times in a row beside two CPU burners: the goal is a suite a loaded machine cannot fail
# (frozen clocks, counted instead of timed); README says which tests still can.
test-under-load: install postgres chromium lint
	@pids=""; for n in 1 2; do (while :; do :; done) & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT; \
	for run in 1 2 3; do \
		echo "run $$run of 3, beside two CPU burners"; \
		$(BIN)/python -m pytest -q -n 2 ibkr_pipeline_tests || exit 1; \
	done

# ruff (lint rules and formatting) over the tree, mypy over the package; configured in pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-resolve requirements.lock after a dependency changes in pyproject.toml (pip-tools, with hashes).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet pip-tools==7.6.2
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links --extra test --strip-extras -o requirements.lock pyproject.toml

# Figures next to their targets, each a ratio against a baseline measured in the same run.
bench: install
	$(BIN)/python -m bench

# The mutation score of the safety-critical modules (bench/mutation.py writes bench/mutation-survivors.md).
# Hours on 2 cores, so not part of make test; modules already measured for their current source and tests
# (bench/mutation-results.json) are not run again; one cut short resumes from bench/mutation-partial.json.
# MUTANTS='ibkr_pipeline.domain.risk*' narrows it to some functions.
mutate: install postgres
	$(BIN)/python -m bench.mutation $(MUTANTS)

# Minutes: the pure decision modules (risk, sizing, LLM answers, contract cache) against the fast tests alone;
# writes bench/mutation-survivors-fast.md.
mutate-fast: install postgres
	$(BIN)/python -m bench.mutation --fast $(MUTANTS)

gateway-sim: $(RUNTIME_STAMP)
	$(BIN)/ibkr-pipeline gateway-sim --port 4002

demo: $(RUNTIME_STAMP)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/python -m ibkr_pipeline.demo

# The Dagster UI on http://127.0.0.1:3000 with the simulator on port 4002.
# Ticks run in one process here (IBKR_PIPELINE_EXECUTOR=in_process); production keeps multiprocess or Celery.
# The instance settings are ibkr_pipeline/dagster.yaml, copied afresh each time: edit that file, not the copy.
ui: $(RUNTIME_STAMP)
	mkdir -p $(DAGSTER_HOME) && cp ibkr_pipeline/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ibkr-pipeline gateway-sim --port 4002 & SIM=$$!; trap "kill $$SIM" EXIT INT TERM; \
		DAGSTER_HOME=$(DAGSTER_HOME) IBKR_PORT=4002 IBKR_PIPELINE_EXECUTOR=$${IBKR_PIPELINE_EXECUTOR:-in_process} \
		$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) .ibkr_pipeline .pytest_cache mutants
