#!/usr/bin/env bash
# Builds runner and runs the Seattle crime pipeline on the embedded local target.
# Today that is the offline check of every pipeline file; plan/apply, the data flows,
# queries and the dashboard join this script as they land.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --quiet --bin runner
runner=target/debug/runner

echo "== runner validate pipelines/"
"$runner" validate pipelines/
