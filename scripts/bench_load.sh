#!/usr/bin/env bash
# The load figures of docs/benchmarks.md: `callgate loadtest` at 100, 250 and 500 concurrent
# calls, passthrough (Opus both legs) and transcoding (Opus <-> PCMU), plus a sustained set-up
# rate run; each run's summary is kept as JSON (and text, with `uptime` before it) in $OUT.
#   bash scripts/bench_load.sh                 (all runs, about 6 minutes)
#   CALLS="100" MODES="pcmu" bash scripts/bench_load.sh
#   .venv/bin/python scripts/bench_plot.py target/loadtest docs/benchmarks-load.png
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-target/loadtest}"
hold="${HOLD:-20}"
cps="${CPS:-50}"
complexity="${OPUS_COMPLEXITY:-}"
mkdir -p "$out"
cargo build --release -q
bin=target/release/callgate
extra=()
if [ -n "$complexity" ]; then extra+=(--opus-complexity "$complexity"); fi
run() {
  local name="$1"; shift
  { echo "\$ uptime"; uptime; echo "\$ $bin loadtest $*"; } > "$out/$name.txt"
  "$bin" loadtest "$@" --json "$out/$name.json" >> "$out/$name.txt" 2>/dev/null || true
  tail -n +4 "$out/$name.txt" | sed "s/^/[$name] /"
}
for mode in ${MODES:-passthrough pcmu}; do
  for calls in ${CALLS:-100 250 500}; do
    run "$mode-$calls" --mode "$mode" --calls "$calls" --cps "$cps" --hold "$hold" "${extra[@]}"
  done
done
if [ -z "${NO_SETUP_RUN:-}" ]; then
  run "setups-200cps" --mode passthrough --calls 1000 --cps 200 --hold 2 --total 2000 "${extra[@]}"
fi
