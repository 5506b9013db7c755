#!/usr/bin/env bash
# Instruction counts (callgrind) for the hot paths: stable across runs and machine load, so they
# can be compared between commits.
#   bash benches/callgrind.sh              (needs valgrind: apt-get install valgrind)
#   OPUS_COMPLEXITY=5 bash benches/callgrind.sh pcmu_to_opus   (one path, another complexity)
# Webhook: the difference between a run of N and one of 2N iterations (start-up cancels out).
# Media and SIP paths (examples/hot_paths.rs): callgrind counts only inside the step being
# measured (--toggle-collect), so the peer's work and set-up never count; the difference between
# N and 2N steps cancels one-time work inside the step (aws-lc's entropy pool, caches).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example webhook_ir --example hot_paths -q
total() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}'
}
ir() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" target/release/examples/webhook_ir "$1" >/dev/null 2>&1
  total "$out"
  rm -f "$out"
}
steps_ir() {
  local out; out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" '--toggle-collect=hot_paths::measured*' \
    target/release/examples/hot_paths "$1" "$2" >/dev/null 2>&1
  total "$out"
  rm -f "$out"
}
step_ir() {
  local a b; a=$(steps_ir "$1" "$2"); b=$(steps_ir "$1" $(( 2 * $2 )))
  echo $(( (b - a) / $2 ))
}
only="${1:-}"
if [ -z "$only" ] || [ "$only" = webhook ]; then
  n=500
  a=$(ir $n); b=$(ir $((2*n)))
  echo "webhook verify+parse (connect, $(wc -c < tests/fixtures/webhook-calls-connect-uic.json) bytes): $(( (b - a) / n )) instructions per webhook"
fi
describe() {
  case "$1" in
    srtp_in_rtp_out) echo "passthrough WhatsApp->PBX, per packet (SRTP in, str0m, RTP header rewrite)" ;;
    rtp_in_srtp_out) echo "passthrough PBX->WhatsApp, per packet (RTP in, bridge, str0m, SRTP out)" ;;
    opus_to_pcmu) echo "transcode Opus->PCMU, per 20 ms frame" ;;
    pcmu_to_opus) echo "transcode PCMU->Opus, per 20 ms frame (complexity ${OPUS_COMPLEXITY:-1})" ;;
    opus_to_g722) echo "transcode Opus->G.722, per 20 ms frame" ;;
    g722_to_opus) echo "transcode G.722->Opus, per 20 ms frame (complexity ${OPUS_COMPLEXITY:-1})" ;;
    dtmf_wa_to_pbx) echo "DTMF WhatsApp->PBX, per RFC 4733 report" ;;
    dtmf_pbx_to_wa) echo "DTMF PBX->WhatsApp, per RFC 4733 packet" ;;
    sip_200_ok) echo "SIP 200 OK parse + INVITE client transaction step" ;;
    answer_meta_offer) echo "answer Meta's offer (str0m Rtc + DTLS instance + SDP), per call" ;;
  esac
}
for path in srtp_in_rtp_out rtp_in_srtp_out opus_to_pcmu pcmu_to_opus opus_to_g722 g722_to_opus \
  dtmf_wa_to_pbx dtmf_pbx_to_wa sip_200_ok answer_meta_offer; do
  if [ -n "$only" ] && [ "$only" != "$path" ]; then continue; fi
  n=300; if [ "$path" = answer_meta_offer ]; then n=40; fi
  echo "$(describe "$path"): $(step_ir "$path" $n) instructions"
done
