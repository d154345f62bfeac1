#!/usr/bin/env bash
# Keeps the benches from rotting: runs one small group briefly (BERTH_BENCH_QUICK=1) and the
# report generator over that output, into a temporary file (docs/benchmarks.md is untouched).
# Called by scripts/test.sh after `cargo bench -p berth-benches --no-run` (whose release build
# the report generator reuses); takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# One small group (a shard keeper's round: light setup) on two in-process backends, with
# criterion's output kept out of target/criterion so real results are not overwritten.
BERTH_BENCH_QUICK=1 BERTH_TEST_MONGODB_URI='' CRITERION_HOME="$out/criterion" \
  cargo bench -q -p berth-benches --bench keeper -- --noplot 'keeper_round_300/(memory|sqlite-relaxed)' \
  >"$out/bench.log" 2>&1 || { cat "$out/bench.log"; exit 1; }

cargo run -q --release -p berth-benches --bin bench-report -- \
  --criterion "$out/criterion" --rss "$out/none.json" \
  --out "$out/benchmarks.md" --charts "$out/bench" --settings "bench-smoke"

grep -q '^| `keeper_round_300`' "$out/benchmarks.md"
ls "$out/bench/keeper_round_300.png" >/dev/null
echo "bench-smoke: ok (keeper_round_300 on memory and sqlite-relaxed, report generated)"
