#!/usr/bin/env bash
# Builds Tavana and runs every test: the Swift unit and engine tests, then the end-to-end
# tests that drive real clients (pyarrow, duckdb, psql, psycopg, ...) against the binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[run-tests] %s\n' "$*" >&2; }

scripts/setup-test-services.sh

log "building (debug)"
swift build --build-tests
bin="$(swift build --show-bin-path)/tavana"

log "swift tests"
swift test --skip-build --parallel --num-workers 2

log "client tests (pytest)"
TAVANA_BIN="$bin" .venv/bin/python -m pytest -q tests/clients

# The real-client suites again, with every server they start being a cluster: a gateway in
# front of two workers that share a DuckLake catalog (docs/cluster.md). Tests that cannot
# apply there are skipped with their reason.
log "client tests in cluster mode (gateway + 2 workers)"
TAVANA_TEST_MODE=cluster TAVANA_BIN="$bin" .venv/bin/python -m pytest -q -rs \
  tests/clients/test_pg_psycopg.py tests/clients/test_pg_psql.py tests/clients/test_pg_pg8000.py \
  tests/clients/test_pg_streaming.py tests/clients/test_flight_sql.py tests/clients/test_flight_metadata.py tests/clients/test_flight_sessions.py tests/clients/test_flight_clients.py \
  tests/clients/test_arrow_ipc.py tests/clients/test_pg_admission.py tests/clients/test_object_storage.py tests/clients/test_object_storage_formats.py tests/clients/test_object_storage_clouds.py tests/clients/test_sandbox.py

# The Helm chart, rendered offline by a real Helm (scripts/fetch-helm.sh) and checked against
# the Kubernetes schemas; and the autoscaler's PromQL run by a real Prometheus against real
# gateways (scripts/setup-prometheus.sh installs Debian's).
log "chart tests"
scripts/fetch-helm.sh >/dev/null
scripts/setup-prometheus.sh
TAVANA_BIN="$bin" .venv/bin/python -m pytest -q tests/chart

# Last, because it compiles Tavana's modules again with the fuzzer's instrumentation (in the
# same build folder, so the dependencies are not rebuilt): a few seconds per fuzz target
# from the committed corpus. `make fuzz` is the long run (docs/reliability.md).
log "fuzz smoke"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}" scripts/fuzz.sh --smoke
