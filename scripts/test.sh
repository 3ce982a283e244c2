#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints (warnings denied), every test, and the
# editor check of the committed schema. Installs what it needs when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

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
