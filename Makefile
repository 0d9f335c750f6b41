# Tavana's entry points. `make serve` and `make test` work on a fresh clone: each installs
# what it needs first (pinned DuckDB library and extensions, Python test clients).
SHELL := /bin/bash
SWIFT ?= swift
PYTHON := .venv/bin/python
CONFIG ?= debug
BUILD_FLAGS := -c $(CONFIG)
BIN = $(shell $(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/tavana

.PHONY: deps duckdb python build serve cluster test test-swift test-clients bench fuzz fuzz-smoke fuzz-campaign image clean

deps: duckdb python

duckdb:
	@scripts/fetch-duckdb.sh

python:
	@scripts/setup-python.sh

build: duckdb
	$(SWIFT) build $(BUILD_FLAGS)

serve: deps build
	$(BIN) serve $(ARGS)

# Cluster mode on this machine: PostgreSQL for the shared catalog, two workers and a gateway,
# in the foreground (Ctrl-C stops all); docs/cluster.md.
cluster: deps build
	@scripts/setup-test-services.sh
	TAVANA_BIN=$(BIN) scripts/cluster.sh $(ARGS)

test: deps
	@scripts/run-tests.sh

test-swift: duckdb
	$(SWIFT) test $(BUILD_FLAGS)

test-clients: deps build
	TAVANA_BIN=$(BIN) $(PYTHON) -m pytest -q tests/clients

bench: deps
	@scripts/run-bench.sh

# libFuzzer on the client-facing decoders: FUZZ_SECONDS per target (default 60); see
# docs/reliability.md. `fuzz-smoke` is the few seconds per target that `make test` runs.
fuzz: duckdb
	@scripts/fuzz.sh $(FUZZ_TARGETS)

fuzz-smoke: duckdb
	@scripts/fuzz.sh --smoke

# The long campaign: 10 million executions per target, resumable (docs/reliability.md).
fuzz-campaign: duckdb
	@scripts/fuzz-campaign.sh $(ARGS)

# The container image both chart roles run (docker/README.md). Needs a container engine,
# which this project's CI does not have: there, tests/clients/test_not_root.py checks the
# image's file tree instead (scripts/assemble-image-tree.sh).
IMAGE ?= tavana/tavana:dev
CONTAINER ?= docker
image:
	@command -v $(CONTAINER) >/dev/null || { echo "make image: no $(CONTAINER) here (set CONTAINER=podman, or build elsewhere); scripts/assemble-image-tree.sh DEST lays out the image's files instead" >&2; exit 1; }
	$(CONTAINER) build -f docker/Dockerfile -t $(IMAGE) .

clean:
	rm -rf .build .build-fuzz
