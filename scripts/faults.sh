#!/usr/bin/env bash
# The fault figures of docs/reliability.md: 200,000 real-shaped SPD rows through ingest and
# three deliver workers on the local services, once per fault (a worker killed with
# `kill -9` or at each crash point, SIGTERM during a batch, a broker restart, S3 503/500s,
# Glue throttling, Socrata 429/500s and a stall), counting what reached S3 by key.
#
# Runs where a worker takes a partition over use HANDOVER_ROWS rows (default 50,000; see
# scripts/faults.py). Prints the Markdown table of docs/reliability.md.
#
#   scripts/services.sh start && scripts/faults.sh
#   ROWS=50000 scripts/faults.sh kill-worker broker-restart   # some faults, fewer rows
#   GLUE_THROTTLE=0.5 scripts/faults.sh glue-throttling       # a harsher Glue (default 0.2)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=target/bench
scripts/bench-setup.sh --python
eval "$(scripts/services.sh env)"
exec "$bench/venv/bin/python" scripts/faults.py "$PWD/$bench/release/runner" "${ROWS:-200000}" "$@"
