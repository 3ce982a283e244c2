#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints (warnings denied), the editor check of the
# committed schema, and every test — with the real services (Kafka-protocol broker, S3/Glue
# API servers) installed when missing, started on 127.0.0.1 and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/toolchain.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== services: install (once per machine) and start"
scripts/services.sh start
trap 'scripts/services.sh stop' EXIT
eval "$(scripts/services.sh env)"

echo "== cargo clippy (warnings denied)"
cargo clippy --all-targets --locked -- -D warnings

echo "== editor: yaml-language-server with the committed schema"
scripts/editor-check.sh

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    cargo test --locked --no-fail-fast
fi
