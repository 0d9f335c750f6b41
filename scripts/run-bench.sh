#!/usr/bin/env bash
# Builds Tavana in release mode and runs the benchmarks in bench/. Results go to
# bench/results/*.json (ignored by git). Benchmarks, not tests: nothing here fails CI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[run-bench] %s\n' "$*" >&2; }
log "building (release)"
swift build -c release --product tavana
bin="$(swift build -c release --show-bin-path)/tavana"
mkdir -p bench/results
for b in bench/[!_]*.py; do
  log "running $b"
  TAVANA_BIN="$bin" .venv/bin/python "$b"
done
log "results in bench/results/"
