#!/usr/bin/env bash
# Fetch the pinned DuckDB shared library and the extensions Tavana loads into a
# cache outside the repository. Idempotent: files already present are skipped.
# Tavana never downloads anything at run time; everything it needs comes from here.
set -euo pipefail

DUCKDB_VERSION="${DUCKDB_VERSION:-1.5.5}"
# The bareduckdb wheel that ships a plain libduckdb.so built from DuckDB $DUCKDB_VERSION.
BAREDUCKDB_VERSION="${BAREDUCKDB_VERSION:-0.12.155}"
EXTENSIONS="${TAVANA_EXTENSIONS:-httpfs aws azure delta iceberg avro tpch tpcds ducklake postgres}"
CACHE="${TAVANA_DUCKDB_HOME:-$HOME/.cache/tavana/duckdb-$DUCKDB_VERSION}"
# DuckDB's own layout, so that `extension_directory` plus `LOAD name` finds the files.
EXT_ROOT="$CACHE/extensions"
EXT_DIR="$EXT_ROOT/v$DUCKDB_VERSION/linux_amd64"
PY="${PYTHON:-python3}"

log() { printf '[fetch-duckdb] %s\n' "$*" >&2; }
die() { printf '[fetch-duckdb] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE/lib" "$EXT_DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

unzip_member() { # wheel member destination
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith(member)]
    if not names:
        sys.exit(f"{member} not found in {wheel}")
    with z.open(names[0]) as src, open(dest + ".part", "wb") as out:
        shutil.copyfileobj(src, out)
import os
os.replace(dest + ".part", dest)
PYEOF
}

if [ -s "$CACHE/lib/libduckdb.so" ]; then
  log "libduckdb.so present in $CACHE/lib"
else
  log "downloading libduckdb $DUCKDB_VERSION (bareduckdb==$BAREDUCKDB_VERSION)"
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 -d "$tmp/lib" \
      "bareduckdb==$BAREDUCKDB_VERSION" \
    || die "could not download bareduckdb==$BAREDUCKDB_VERSION with pip (is the package index reachable?)"
  wheel="$(ls "$tmp"/lib/*.whl | head -n1)"
  unzip_member "$wheel" "_libs/libduckdb.so" "$CACHE/lib/libduckdb.so" \
    || die "libduckdb.so missing from $wheel"
  log "installed $CACHE/lib/libduckdb.so"
fi

for name in $EXTENSIONS; do
  # DuckDB looks an extension up by its canonical name: the postgres wheel holds
  # postgres.duckdb_extension, which DuckDB loads as postgres_scanner.
  file="$name"
  [ "$name" = postgres ] && file=postgres_scanner
  dest="$EXT_DIR/$file.duckdb_extension"
  if [ -s "$dest" ]; then
    log "extension $name present"
    continue
  fi
  log "downloading extension $name $DUCKDB_VERSION"
  mkdir -p "$tmp/$name"
  "$PY" -m pip download --quiet --no-deps -d "$tmp/$name" "duckdb-extension-$name==$DUCKDB_VERSION" \
    || die "could not download duckdb-extension-$name==$DUCKDB_VERSION with pip"
  wheel="$(ls "$tmp/$name"/*.whl | head -n1)"
  unzip_member "$wheel" "v$DUCKDB_VERSION/$name.duckdb_extension" "$dest" \
    || die "$name.duckdb_extension missing from $wheel"
done
log "done: $CACHE"
