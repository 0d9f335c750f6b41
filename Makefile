# Tavana's entry points. `make serve` and `make test` work on a fresh clone: each installs
# what it needs first (pinned DuckDB library and extensions, Python test clients).
SHELL := /bin/bash
SWIFT ?= swift
PYTHON := .venv/bin/python
CONFIG ?= debug
BUILD_FLAGS := -c $(CONFIG)
BIN = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/tavana

.PHONY: deps duckdb python build serve test test-swift test-clients bench clean

deps: duckdb python

duckdb:
	@scripts/fetch-duckdb.sh

python:
	@scripts/setup-python.sh

build: duckdb
	$(SWIFT) build $(BUILD_FLAGS)

serve: deps build
	$(BIN) serve $(ARGS)

test: deps
	@scripts/run-tests.sh

test-swift: duckdb
	$(SWIFT) test $(BUILD_FLAGS)

test-clients: deps build
	TAVANA_BIN=$(BIN) $(PYTHON) -m pytest -q tests/clients

bench: deps
	@scripts/run-bench.sh

clean:
	rm -rf .build
