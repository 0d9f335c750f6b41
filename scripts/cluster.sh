#!/usr/bin/env bash
# `make cluster`: cluster mode on this machine, in the foreground — a PostgreSQL for the shared
# DuckLake catalog's metadata, two `tavana worker`s and a `tavana gateway` in front of them,
# all on loopback. Clients connect to the gateway as to `tavana serve` (PostgreSQL 5432,
# Flight SQL 9091, HTTP 8080). Ctrl-C stops everything. State lives in .cluster/ (the catalog's
# metadata and data files survive restarts; delete the folder to start afresh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[cluster] %s\n' "$*" >&2; }

bin="${TAVANA_BIN:-$(swift build --show-bin-path)/tavana}"
pg_bin=/usr/lib/postgresql/15/bin
state="$root/.cluster"
pg_port="${CLUSTER_PG_PORT:-55432}"
mkdir -p "$state/lake" "$state/logs"

as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)
pg_user="$( [ "$(id -u)" -eq 0 ] && echo postgres || id -un )"

pids=()
stop_all() {
  trap - EXIT INT TERM
  log "stopping"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

if [ ! -d "$state/pg" ]; then
  log "creating the catalog's PostgreSQL in $state/pg"
  mkdir -p "$state/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$state/pg" "$state"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$state/pg" -A trust -U "$pg_user" -E UTF8 >"$state/logs/initdb.log"
fi
[ "$(id -u)" -eq 0 ] && chown postgres "$state"
"${as_pg[@]}" "$pg_bin/postgres" -D "$state/pg" -p "$pg_port" -h 127.0.0.1 -k "$state" >"$state/logs/postgres.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'lake'" | grep -q 1 \
  || "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U "$pg_user" lake

export TAVANA_DUCKLAKE_METADATA="postgres:host=127.0.0.1 port=$pg_port user=$pg_user dbname=lake"
export TAVANA_DUCKLAKE_DATA_PATH="$state/lake/"
for i in 1 2; do
  "$bin" worker --port $((9300 + i)) --http-port $((8180 + i)) --worker-id "worker$i" >"$state/logs/worker$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 1 300); do grep -q "worker listening" "$state/logs/worker$i.log" && break; sleep 0.1; done
  grep -q "worker listening" "$state/logs/worker$i.log" || { log "worker$i did not start:"; cat "$state/logs/worker$i.log" >&2; exit 1; }
done
log "workers on 127.0.0.1:9301 and :9302 (logs in $state/logs); starting the gateway"
"$bin" gateway --workers 127.0.0.1:9301,127.0.0.1:9302 "$@" &
pids+=($!)
wait "${pids[-1]}"
