#!/usr/bin/env bash
# Installs the Prometheus server that tests/chart/test_autoscaling_promql.py starts on
# loopback to run the autoscaler's PromQL against real `tavana serve` processes.
# Debian's `prometheus` package, from apt; idempotent: nothing happens when
# /usr/bin/prometheus is already there. Nothing is started here and the package's own
# service is not used (the test runs a throwaway server with its own config and data folder).
set -euo pipefail
log() { printf '[setup-prometheus] %s\n' "$*" >&2; }

PROMETHEUS="${PROMETHEUS_BIN:-/usr/bin/prometheus}"
if [ -x "$PROMETHEUS" ]; then
  log "prometheus present: $PROMETHEUS"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || { log "error: $PROMETHEUS is missing and apt-get is not available"; exit 1; }
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
log "installing prometheus with apt-get"
"${sudo[@]}" apt-get update -qq
# policy-rc.d 101: do not start the package's service while installing (containers have no
# init system; the tests start their own server).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
[ -x "$PROMETHEUS" ] || { log "error: $PROMETHEUS still missing after installing prometheus"; exit 1; }
log "prometheus installed: $("$PROMETHEUS" --version 2>&1 | head -n1)"
