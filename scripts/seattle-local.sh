#!/usr/bin/env bash
# The Seattle crime pipeline end to end on the embedded local target, no services needed:
# build, validate, plan, apply, backfill the real historical sample, ingest a recorded live
# feed (its newest rows, held back from the backfill and replayed in the Socrata API's JSON
# shape by scripts/socrata_replay.py), deliver it from the local log, query both tables and
# write the dashboard. State lives in .runner/ (or RUNNER_STATE_DIR); running it again
# converges (deterministic object names, checkpoints, watermark). The dashboard is written
# to out/ (or DASHBOARD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

# RUNNER_BIN runs an already built binary instead (the test of this script uses its own).
runner=${RUNNER_BIN:-}
if [ -z "$runner" ]; then
    scripts/toolchain.sh
    cargo build --locked --quiet --bin runner
    runner=target/debug/runner
fi
pipeline=pipelines/seattle_911_crime.yaml
state=${RUNNER_STATE_DIR:-.runner}
out=${DASHBOARD_DIR:-out}
started=$(date +%s)
mkdir -p "$state/demo"

echo "== runner validate pipelines/"
"$runner" validate pipelines/

echo "== runner apply $pipeline"
"$runner" apply "$pipeline"

echo "== runner plan $pipeline --detailed-exitcode (nothing left to do)"
"$runner" plan "$pipeline" --detailed-exitcode

echo "== the recorded feed: the newest 500 real rows, held back from the history"
python3 scripts/socrata_replay.py data/spd_crime_data_2023_formatted.csv \
    --hold-back 500 --history-out "$state/demo/history.csv" >"$state/demo/replay.url" &
replay=$!
trap 'kill $replay 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    [ -s "$state/demo/replay.url" ] && break
    sleep 0.1
done
feed=$(head -1 "$state/demo/replay.url")
[ -n "$feed" ] || { echo "error: the replay did not start" >&2; exit 1; }
echo "   serving at $feed"

echo "== runner run backfill (history CSV -> cleaning -> partitioned Parquet)"
SPD_HISTORY_CSV="$state/demo/history.csv" "$runner" run backfill "$pipeline"

echo "== runner run ingest --once (Socrata API -> cleaning -> topic seattle_911_crime)"
SOCRATA_URL="$feed" "$runner" run ingest "$pipeline" --once

echo "== runner run deliver --once (topic -> incremental_data/ JSON lines)"
"$runner" run deliver "$pipeline" --once

echo "== runner query by_category"
"$runner" query by_category "$pipeline"

echo "== runner query live_by_day"
"$runner" query live_by_day "$pipeline"

echo "== runner dashboard -o $out"
"$runner" dashboard "$pipeline" -o "$out"

history=$("$runner" query total_offenses "$pipeline" --format csv | tail -1)
live=$("$runner" query live_offenses "$pipeline" --format csv | tail -1)
echo
echo "Done in $(($(date +%s) - started)) s: $history offenses from the history (Parquet under"
echo "$state/s3/seattle-911/historical/), $live from the live feed (JSON lines under"
echo "$state/s3/seattle-911/incremental_data/)."
echo "Dashboard: $out/seattle-911-crime.html"
