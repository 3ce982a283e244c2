#!/usr/bin/env bash
# Builds runner and runs the Seattle crime pipeline on the embedded local target (state in
# .runner/, or RUNNER_STATE_DIR): validate, plan, apply, plan again to show it converged,
# then backfill both historical CSV exports into partitioned Parquet.
# The streaming flows, queries and the dashboard join this script as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --quiet --bin runner
runner=target/debug/runner
pipeline=pipelines/seattle_911_crime.yaml

echo "== runner validate pipelines/"
"$runner" validate pipelines/

echo "== runner plan $pipeline"
"$runner" plan "$pipeline"

echo "== runner apply $pipeline"
"$runner" apply "$pipeline"

echo "== runner plan $pipeline (again: nothing left to do)"
"$runner" plan "$pipeline" --detailed-exitcode

echo "== runner run backfill (the seed's 2023-2024 history)"
"$runner" run backfill "$pipeline"

echo "== runner run backfill_export (the raw portal export, 2008-2021 robberies)"
"$runner" run backfill_export "$pipeline"

state=${RUNNER_STATE_DIR:-.runner}
echo "== Parquet files under $state/s3/seattle-911/historical/"
find "$state/s3/seattle-911/historical" -name '*.parquet' | sort | sed -n '1,5p'
echo "   ... $(find "$state/s3/seattle-911/historical" -name '*.parquet' | wc -l) files in all"
