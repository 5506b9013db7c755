#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with the Rust toolchain:
# installs what the tests need, then format check, clippy (warnings are errors) and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
