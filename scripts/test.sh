#!/usr/bin/env bash
# The one test command: formatting, lints, every test of the workspace, and the benches compile
# and run briefly. Starts its own MongoDB-compatible test server unless BERTH_TEST_MONGODB_URI is
# set. Fails on the first error.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

if [ -x scripts/mongo-server.sh ] && [ -z "${BERTH_TEST_MONGODB_URI:-}" ]; then
  step "MongoDB test server (SecantusDB)"
  eval "$(scripts/mongo-server.sh)"
  server_pid="${BERTH_TEST_MONGODB_PID:-}"
  echo "using $BERTH_TEST_MONGODB_URI"
elif [ -n "${BERTH_TEST_MONGODB_URI:-}" ]; then
  echo "using the MongoDB server given in BERTH_TEST_MONGODB_URI"
fi

# The console's browser test drives Debian's headless Chromium.
if [ ! -x /usr/bin/chromium ] && [ -z "${BERTH_CHROMIUM:-}" ]; then
  step "installing chromium (browser test of berth serve)"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

step "cargo test --workspace --all-features"
# Bounded: a test that hangs fails the run with a message instead of eating CI's hard limit.
test_minutes="${BERTH_TEST_MINUTES:-50}"
rc=0
timeout --kill-after=30 "${test_minutes}m" cargo test --workspace --all-features || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "cargo test did not finish within $test_minutes minutes (BERTH_TEST_MINUTES): a test hangs" >&2
fi
[ "$rc" -eq 0 ] || exit "$rc"

if [ -d benches ]; then
  step "benches compile and run briefly"
  cargo bench -p berth-benches --no-run
  if [ -x scripts/bench-smoke.sh ]; then
    scripts/bench-smoke.sh
  fi
fi

step "all checks passed"
