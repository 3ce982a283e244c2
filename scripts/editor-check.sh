#!/usr/bin/env bash
# Checks the committed schema in a real editor language server: installs
# yaml-language-server (pinned in tests/editor/package-lock.json) when missing, then
# drives it over LSP (tests/editor/check.mjs).
set -euo pipefail
cd "$(dirname "$0")/../tests/editor"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: node and npm are needed for the editor check (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
if [ ! -x node_modules/.bin/yaml-language-server ] || [ package-lock.json -nt node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
timeout 300 node check.mjs
