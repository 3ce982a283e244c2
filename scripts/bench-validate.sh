#!/usr/bin/env bash
# Times `runner validate pipelines/` as a whole process (start-up, schema compile, load,
# checks, output), RUNS times, and prints min / median / mean in milliseconds.
# Uses the dev build that CI and the tests use; pass --release to time a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-50}
profile=debug
scripts/toolchain.sh
if [ "${1:-}" = "--release" ]; then
    cargo build --locked --quiet --release --bin runner
    profile=release
else
    cargo build --locked --quiet --bin runner
fi
python3 - "$runs" "target/$profile/runner" <<'PY'
import statistics, subprocess, sys, time
runs, binary = int(sys.argv[1]), sys.argv[2]
subprocess.run([binary, "validate", "pipelines/"], check=True, capture_output=True)
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([binary, "validate", "pipelines/"], check=True, capture_output=True)
    times.append((time.perf_counter() - start) * 1000)
print(f"runner validate pipelines/ ({binary}, {runs} runs): "
      f"min {min(times):.1f} ms, median {statistics.median(times):.1f} ms, mean {statistics.mean(times):.1f} ms")
PY
