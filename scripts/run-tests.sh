#!/usr/bin/env bash
# Builds Tavana and runs every test: the Swift unit and engine tests, then the end-to-end
# tests that drive real clients (pyarrow, duckdb, psql, psycopg, ...) against the binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[run-tests] %s\n' "$*" >&2; }

log "building (debug)"
swift build --build-tests
bin="$(swift build --show-bin-path)/tavana"

log "swift tests"
swift test --skip-build --parallel --num-workers 2

log "client tests (pytest)"
TAVANA_BIN="$bin" .venv/bin/python -m pytest -q tests/clients

# Last, because it compiles Tavana's modules again with the fuzzer's instrumentation (in the
# same build folder, so the dependencies are not rebuilt): a few seconds per fuzz target
# from the committed corpus. `make fuzz` is the long run (docs/reliability.md).
log "fuzz smoke"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}" scripts/fuzz.sh --smoke
