# The README's commands: `make demo` (runtime only) and `make test` (everything, as CI runs it); `make check` is the
# inner loop (lint, unit tests and the fast integration tests, in under two minutes). Each sets up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test
# Test processes: more than the cores, since most tests wait on child processes and servers (2 cores: 4).
WORKERS ?= 4
FAST := not slow and not browser and not dbt and not production

.PHONY: install demo check test bench lint clean

$(BIN)/uv:
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv

$(RUNTIME): pyproject.toml | $(BIN)/uv
	@$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode -e .
	@touch $(RUNTIME)

$(TESTING): pyproject.toml | $(BIN)/uv
	@$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode -e ".[test]"
	@touch $(RUNTIME) $(TESTING)

install: $(TESTING)

demo: $(RUNTIME)
	@$(BIN)/cio-retl demo

lint: $(TESTING)
	@$(BIN)/ruff check cio_retl dagster_project tests benchmarks scripts

check: lint
	@$(BIN)/python -m pytest -q -n $(WORKERS) -m "$(FAST)" tests

test: $(TESTING)
	@bash scripts/system_deps.sh
	@$(BIN)/python -m pytest -q -n $(WORKERS) tests

bench: $(TESTING)
	@$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .cio_retl data/warehouse.duckdb
