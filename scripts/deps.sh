#!/usr/bin/env bash
# Installs what callgate needs on a fresh Debian 12 machine that has the Rust toolchain.
#   scripts/deps.sh build   system packages to build callgate (cmake for libopus)
#   scripts/deps.sh demo    the above plus baresip, the SIP phone the demo rings
#   scripts/deps.sh test    the above plus everything the test suite drives
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-build}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

build_pkgs=(cmake pkg-config build-essential)
demo_pkgs=(baresip-core)
test_pkgs=(sip-tester tshark sox libsox-fmt-all python3-venv valgrind)

pkgs=("${build_pkgs[@]}")
case "$what" in
  build) ;;
  demo) pkgs+=("${demo_pkgs[@]}") ;;
  test) pkgs+=("${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "usage: scripts/deps.sh build|demo|test" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$what" = "test" ]; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  # WebRTC peer for interop tests: aiortc (a second WebRTC stack) in the project's own venv.
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import aiortc, numpy" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check aiortc numpy
  fi
fi
