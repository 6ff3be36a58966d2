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

.PHONY: install test lint demo clean

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
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	mkdir -p var
	$(BIN)/chedaitong db upgrade
	$(BIN)/chedaitong serve --host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
