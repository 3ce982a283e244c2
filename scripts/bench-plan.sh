#!/usr/bin/env bash
# Times `runner plan` of the Seattle pipeline as a whole process, RUNS times, on the local
# target and against the local services (moto for S3/Glue, tansu for Kafka), after an apply
# so the plan reads every resource. Start the services first: scripts/services.sh start.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-20}
scripts/toolchain.sh
cargo build --locked --quiet --bin runner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r pipelines "$work/"
eval "$(scripts/services.sh env)"
export RUNNER_STATE_DIR="$work/state" AWS_ENDPOINT_URL="$RUNNER_TEST_AWS" AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2 KAFKA_BOOTSTRAP_SERVERS="$RUNNER_TEST_KAFKA"
runner="$PWD/target/debug/runner"
cd "$work"
for target in local aws; do
    "$runner" apply --target "$target" >/dev/null
    python3 - "$runs" "$runner" "$target" <<'PY'
import statistics, subprocess, sys, time
runs, binary, target = int(sys.argv[1]), sys.argv[2], sys.argv[3]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run([binary, "plan", "--target", target, "--detailed-exitcode"], check=True, capture_output=True)
    times.append((time.perf_counter() - start) * 1000)
print(f"runner plan --target {target} ({runs} runs): min {min(times):.0f} ms, "
      f"median {statistics.median(times):.0f} ms, mean {statistics.mean(times):.0f} ms")
PY
done
