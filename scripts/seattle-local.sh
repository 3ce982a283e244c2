#!/usr/bin/env bash
# Builds runner and runs the Seattle crime pipeline on the embedded local target (state in
# .runner/, or RUNNER_STATE_DIR): validate, plan, apply, and plan again to show it converged.
# The data flows, queries and the dashboard join this script as they land.
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
