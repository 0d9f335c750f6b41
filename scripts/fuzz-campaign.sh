#!/usr/bin/env bash
# The long fuzz campaign (docs/reliability.md): every target until it has run GOAL
# executions (default 10 million) on one build, resumable. The release fuzz binary is built
# once and kept with the commit it was built from; each run appends what it executed to a
# ledger, interrupted runs too, so a campaign cut short (a machine restart) goes on from
# where it was with the corpus it had grown.
#
#   scripts/fuzz-campaign.sh                 start or resume (two chains, nice 19)
#   scripts/fuzz-campaign.sh --status        executions so far per target
#   scripts/fuzz-campaign.sh --new           forget the ledger and the binary; build again
#   scripts/fuzz-campaign.sh --rebuild T...  build a new binary after a fix; runs of the other
#                                            targets on the old one keep counting (their code
#                                            did not change: listed in carried), T... start over
#
# Layout: .build-fuzz/campaign/{tavana-fuzz,commit,ledger.txt,TARGET.START.log}. A crash
# stops that target's chain and leaves its input in fuzz/artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
log() { printf '[fuzz-campaign] %s\n' "$*" >&2; }

dir=.build-fuzz/campaign
goal="${GOAL:-10000000}"
mkdir -p "$dir" fuzz/artifacts
[ -f "$dir/ledger.txt" ] || echo "# target commit executions seconds outcome" > "$dir/ledger.txt"

# Executions of a target on the current binary's commit, plus those on older commits that
# `carried` lists for it ("target commit why": its code did not change since).
done_so_far() {
  touch "$dir/carried"
  awk -v t="$1" -v c="$(cat "$dir/commit")" '
    FILENAME == ARGV[1] { if ($1 == t) ok[$2] = 1; next }
    $1 == t && ($2 == c || ($2 in ok)) { s += $3 }
    END { print s + 0 }' "$dir/carried" "$dir/ledger.txt"
}

status() {
  for t in pg-messages pg-parameters pg-copy pg-rewriter arrow-ipc flight-commands worker-protocol; do
    printf '%-16s %12s of %s\n' "$t" "$(done_so_far "$t")" "$goal"
  done
}

case "${1:-}" in
  --status) status; exit 0 ;;
  --new) rm -f "$dir/tavana-fuzz" "$dir/commit" "$dir/carried"; mv "$dir/ledger.txt" "$dir/ledger.$(date +%s).txt" ;;
  --rebuild)
    shift
    old=$(cat "$dir/commit")
    touch "$dir/carried"
    for t in pg-messages pg-parameters pg-copy pg-rewriter arrow-ipc flight-commands worker-protocol; do
      case " $* " in
        # Its code changed: nothing before counts any more.
        *" $t "*) grep -v "^$t " "$dir/carried" > "$dir/carried.new" || true; mv "$dir/carried.new" "$dir/carried" ;;
        *) echo "$t $old unchanged-code" >> "$dir/carried" ;;
      esac
    done
    rm -f "$dir/tavana-fuzz" "$dir/commit"
    set -- ;;
esac

if [ ! -x "$dir/tavana-fuzz" ]; then
  log "building the fuzz binary (release, instrumented)"
  TAVANA_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product tavana-fuzz
  cp "$(TAVANA_FUZZ=1 swift build -c release --scratch-path .build-fuzz --show-bin-path)/tavana-fuzz" "$dir/tavana-fuzz"
  git rev-parse --short HEAD > "$dir/commit"
  [ -f "$dir/ledger.txt" ] || echo "# target commit executions seconds outcome" > "$dir/ledger.txt"
fi
log "binary from commit $(cat "$dir/commit")"

# One chain: each target in turn until the ledger holds GOAL executions of it.
chain() {
  local maxlen=$1; shift
  for t in "$@"; do
    mkdir -p ".build-fuzz/fuzz-corpus/$t"
    local left=$(( goal - $(done_so_far "$t") ))
    [ "$left" -le 0 ] && continue
    local start; start=$(date +%s)
    local logfile="$dir/$t.$start.log"
    log "$t: $left executions to go (log $logfile)"
    # malloc_context_size=0: no allocation stack traces (ASan still finds every bad access;
    # a crash is replayed with full traces afterwards). -max_len: see docs/reliability.md.
    ASAN_OPTIONS=detect_leaks=0:malloc_context_size=0 TAVANA_FUZZ_TARGET="$t" nice -n 19 "$dir/tavana-fuzz" \
      -runs="$left" -max_len="$maxlen" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="fuzz/artifacts/$t-" ".build-fuzz/fuzz-corpus/$t" "fuzz/corpus/$t" > "$logfile" 2>&1 &
    local pid=$!
    trap 'kill -INT $pid 2>/dev/null' INT TERM
    local rc=0
    wait "$pid" || rc=$?
    wait "$pid" 2>/dev/null || true
    local n; n=$(grep -a -o 'number_of_executed_units: [0-9]*' "$logfile" | awk '{print $2}')
    local outcome=done
    grep -aq "ERROR: libFuzzer\|ERROR: AddressSanitizer\|Fatal error" "$logfile" && outcome=crash
    [ "$rc" -ne 0 ] && [ "$outcome" = done ] && outcome="interrupted(rc=$rc)"
    echo "$t $(cat "$dir/commit") ${n:-0} $(( $(date +%s) - start )) $outcome" >> "$dir/ledger.txt"
    if [ "$outcome" = crash ]; then
      log "$t CRASHED: see $logfile and fuzz/artifacts/"
      return 1
    fi
  done
}

# The rewriter is the slowest per execution (its statements go through every pass), so it
# runs alone in one chain; 1 KiB statements reach every rule it has.
chain 1024 pg-rewriter &
a=$!
chain 4096 pg-messages pg-parameters flight-commands arrow-ipc pg-copy worker-protocol &
b=$!
trap 'kill -INT $a $b 2>/dev/null' INT TERM
rc=0
wait $a || rc=1
wait $b || rc=1
status
exit $rc
