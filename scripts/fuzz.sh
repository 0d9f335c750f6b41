#!/usr/bin/env bash
# Coverage-guided fuzzing of Tavana's client-facing decoders with libFuzzer (see
# docs/reliability.md). Builds fuzz/Sources/TavanaFuzz with the fuzzer and AddressSanitizer,
# then runs each target for FUZZ_SECONDS, starting from the committed seed corpus.
#
#   scripts/fuzz.sh                  every target, FUZZ_SECONDS each (default 60)
#   scripts/fuzz.sh pg-messages      one target
#   scripts/fuzz.sh --smoke          every target briefly from a debug build (CI)
#
# Settings: FUZZ_SECONDS, FUZZ_RUNS (stop after this many executions instead; then
# FUZZ_SECONDS only bounds the time), FUZZ_JOBS (parallel libFuzzer workers per target,
# default 1), FUZZ_CONFIG (release or debug), FUZZ_ARGS (more libFuzzer flags).
# A crash leaves its input in fuzz/artifacts/ and fails the run; turn it into a regression
# test (Tests/...), fix it, and add the input to the target's corpus.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[fuzz] %s\n' "$*" >&2; }

all_targets=(pg-messages pg-parameters pg-copy pg-rewriter arrow-ipc flight-commands worker-protocol)
smoke=false
targets=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=true ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if $smoke; then
  seconds="${FUZZ_SECONDS:-5}"
  # The smoke shares the test build's folder: only Tavana's own modules are compiled again
  # (with instrumentation), not the dependencies, which keeps CI short.
  config="${FUZZ_CONFIG:-debug}"
  scratch="${FUZZ_SCRATCH:-.build}"
else
  seconds="${FUZZ_SECONDS:-60}"
  config="${FUZZ_CONFIG:-release}"
  scratch="${FUZZ_SCRATCH:-.build-fuzz}"
fi
jobs="${FUZZ_JOBS:-1}"

log "building tavana-fuzz ($config, $scratch)"
TAVANA_FUZZ=1 swift build -c "$config" --scratch-path "$scratch" --product tavana-fuzz
bin="$(TAVANA_FUZZ=1 swift build -c "$config" --scratch-path "$scratch" --show-bin-path)/tavana-fuzz"

# LeakSanitizer at exit would report Swift's runtime caches, which live until exit; crashes,
# overflows and use-after-free are what the runs look for.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
mkdir -p fuzz/artifacts
results="$scratch/fuzz-results.txt"
: > "$results"
status=0
for target in "${targets[@]}"; do
  seeds="fuzz/corpus/$target"
  work="$scratch/fuzz-corpus/$target"
  mkdir -p "$work"
  log "$target: ${seconds}s, $jobs job(s), seeds from $seeds"
  logfile="$scratch/fuzz-$target.log"
  set +e
  # -timeout: an input that takes over 10 s is a hang and fails like a crash.
  # -rss_limit_mb: an input that makes the process grow past 4 GB fails too.
  runs_flag=()
  [ -n "${FUZZ_RUNS:-}" ] && runs_flag=(-runs="$FUZZ_RUNS")
  TAVANA_FUZZ_TARGET="$target" "$bin" "${runs_flag[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -jobs="$jobs" -workers="$jobs" -artifact_prefix="fuzz/artifacts/$target-" ${FUZZ_ARGS:-} \
      "$work" "$seeds" > "$logfile" 2>&1
  rc=$?
  set -e
  [ "$jobs" -gt 1 ] && cat fuzz-*.log >> "$logfile" 2>/dev/null && rm -f fuzz-*.log
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logfile" | awk '{s += $2} END {print s + 0}')"
  line="$target: rc=$rc executions=$runs seconds=$seconds corpus=$(ls "$work" | wc -l)"
  echo "$line" | tee -a "$results" >&2
  if [ "$rc" -ne 0 ]; then
    status=1
    log "$target FAILED; the end of its log ($logfile):"
    tail -n 40 "$logfile" >&2
  fi
done
log "results in $results"
exit "$status"
