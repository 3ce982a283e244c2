#!/usr/bin/env bash
# What every benchmark script needs first: the release build of runner in target/bench
# (target/bench/release/runner), and with --python the benchmarks' Python peers and tools
# (scripts/requirements/bench.txt) in target/bench/venv.
#
#   scripts/bench-setup.sh            # the build only
#   scripts/bench-setup.sh --python   # and the virtualenv
set -euo pipefail
cd "$(dirname "$0")/.."
bench=target/bench
mkdir -p "$bench"
scripts/toolchain.sh
cargo build --locked --release --target-dir "$bench" --bin runner
if [ "${1:-}" = --python ]; then
    if [ ! -x "$bench/venv/bin/python" ]; then
        python3 -m venv "$bench/venv"
    fi
    "$bench/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r scripts/requirements/bench.txt
fi
