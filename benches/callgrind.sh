#!/usr/bin/env bash
# Instruction counts (callgrind) for hot paths: stable across runs and machine load, so they can be
# compared between commits. Prints instructions per iteration, taking the difference between a run
# of N and a run of 2N iterations so start-up cost cancels out.
#   bash benches/callgrind.sh            (needs valgrind: apt-get install valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example webhook_ir -q
ir() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" target/release/examples/webhook_ir "$1" >/dev/null 2>&1
  callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'
  rm -f "$out"
}
n=500
a=$(ir $n); b=$(ir $((2*n)))
echo "webhook verify+parse (connect, $(wc -c < tests/fixtures/webhook-calls-connect-uic.json) bytes): $(( (b - a) / n )) instructions per webhook"
