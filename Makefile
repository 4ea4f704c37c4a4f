# The two commands of the README: `make demo` and `make test`. Each sets up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv
	@$(BIN)/uv pip install -q -p $(BIN)/python --compile-bytecode -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(BIN)/cio-retl demo

test: $(STAMP)
	@bash scripts/system_deps.sh
	@$(BIN)/python -m pytest -q tests

bench: $(STAMP)
	@$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .cio_retl data/warehouse.duckdb
