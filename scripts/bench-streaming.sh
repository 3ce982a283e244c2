#!/usr/bin/env bash
# Benchmarks the streaming flows on the local services: 200,000 real-shaped SPD rows served
# by a Socrata-like replay server through `runner run ingest --once` into the tansu broker
# and `runner run deliver --once` into moto's S3 (and again into s3s-fs's), against plain
# librdkafka (confluent-kafka from PyPI, same producer settings: idempotence, acks=all, lz4)
# producing and consuming the same messages on the same broker. Prints messages/s of each
# and the ratio. With s3s-fs, deliver also runs as several workers of one consumer group.
#
#   scripts/services.sh start && scripts/bench-streaming.sh
#   ROWS=50000 scripts/bench-streaming.sh
#   MAX_RECORDS=10000 scripts/bench-streaming.sh   # deliver batches (default 50000)
#   LAG_MS=20 scripts/bench-streaming.sh   # and deliver again with S3 and Glue 20 ms away
#   WORKERS=2 scripts/bench-streaming.sh   # workers of one group sharing the topic (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
bench=target/bench
scripts/bench-setup.sh --python
eval "$(scripts/services.sh env)"
exec "$bench/venv/bin/python" scripts/bench_streaming.py "$PWD/$bench/release/runner" "${ROWS:-200000}"
