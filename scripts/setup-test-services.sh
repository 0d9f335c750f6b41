#!/usr/bin/env bash
# Installs the servers the tests start themselves: PostgreSQL 15 (cluster mode's shared
# DuckLake catalog keeps its metadata there). Debian's postgresql-15 package, from apt;
# nothing is started here (tests/clients/catalog_postgres.py runs a throwaway one per run).
set -euo pipefail
log() { printf '[setup-test-services] %s\n' "$*" >&2; }

if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  log "postgresql-15 present"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || { log "error: postgresql-15 is missing and apt-get is not available"; exit 1; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
log "installing postgresql-15 with apt-get"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null
[ -x /usr/lib/postgresql/15/bin/initdb ] || { log "error: initdb still missing after installing postgresql-15"; exit 1; }
log "postgresql-15 installed"
