#!/usr/bin/env bash
# Create the virtual environment with the real clients the tests drive
# (pyarrow, the duckdb oracle, PostgreSQL and Flight SQL clients). Idempotent:
# a stamp file records the requirements that were installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
req="$root/tests/clients/requirements.txt"
nodeps="$root/tests/clients/requirements-nodeps.txt"
stamp="$venv/.requirements.stamp"
log() { printf '[setup-python] %s\n' "$*" >&2; }

if [ -f "$stamp" ] && cat "$req" "$nodeps" | cmp -s - "$stamp"; then
  log "virtual environment up to date ($venv)"
  exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv" || { echo "[setup-python] error: python3 -m venv failed" >&2; exit 1; }
fi
log "installing test clients from $req"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" \
  || { echo "[setup-python] error: pip could not install $req" >&2; exit 1; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$nodeps" \
  || { echo "[setup-python] error: pip could not install $nodeps" >&2; exit 1; }
cat "$req" "$nodeps" > "$stamp"
log "done"
