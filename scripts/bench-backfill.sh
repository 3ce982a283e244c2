#!/usr/bin/env bash
# Benchmarks `runner run backfill_export` (release build, local target) against DuckDB and
# pandas + pyarrow doing the same cleaning of the same synthesized CSV into year/month
# partitioned Snappy Parquet. Reports rows/s, MB/s and peak RSS of each, at 1M rows and
# (runner and DuckDB) 10M rows. Needs about 4 GB of disk under target/bench.
#
#   scripts/bench-backfill.sh            # 1M and 10M rows
#   ROWS="1000000" scripts/bench-backfill.sh
#   REPEAT=1 scripts/bench-backfill.sh  # runs of each engine (default 3, the median reported)
#
# Python packages go to a virtualenv in target/bench/venv, pinned in
# scripts/requirements/bench.txt (scripts/bench-setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${ROWS:-"1000000 10000000"}
bench=target/bench
scripts/bench-setup.sh --python

exec "$bench/venv/bin/python" scripts/bench_backfill.py "$PWD/$bench/release/runner" $rows
