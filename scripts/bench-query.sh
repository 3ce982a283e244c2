#!/usr/bin/env bash
# Benchmarks `runner query` (release build, embedded engine, local target) printing every
# row of a backfilled table as CSV, JSON and a text table: seconds and peak RSS of each.
# Needs about 1 GB of disk under target/bench per million rows.
#
#   scripts/bench-query.sh              # 1,000,000 rows
#   ROWS=3000000 scripts/bench-query.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bench=target/bench
scripts/bench-setup.sh
exec python3 scripts/bench_query.py "$PWD/$bench/release/runner" "${ROWS:-1000000}"
