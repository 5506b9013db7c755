#!/usr/bin/env bash
# The offline demo, from a fresh Debian 12 machine with the Rust toolchain: installs what is
# missing (cmake for libopus, baresip as the agent's SIP phone), builds callgate and runs
# `callgate demo` on the embedded default configuration: the sandbox stands in for Meta, a
# simulated WhatsApp user calls, baresip answers, tones and DTMF cross both ways. Exits
# non-zero when any part of the demo fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh demo
cargo build --release --locked
exec target/release/callgate demo "$@"
