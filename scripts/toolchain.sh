#!/usr/bin/env bash
# Makes the Rust release pinned in rust-toolchain.toml available before the first cargo
# command. rustup installs a pinned toolchain on first use; where the machine's stable
# toolchain is that very release, it is used under the pinned name instead of downloaded
# again (which also serves a machine that cannot reach static.rust-lang.org).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rustup >/dev/null 2>&1 || exit 0
pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
host=$(rustc +stable -vV 2>/dev/null | sed -n 's/^host: //p') || exit 0
if rustup toolchain list | grep -q "^$pinned-$host"; then
    exit 0
fi
if [ "$(rustc +stable --version 2>/dev/null | awk '{print $2}')" = "$pinned" ]; then
    sysroot=$(rustc +stable --print sysroot)
    ln -s "$sysroot" "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$pinned-$host"
    echo "rust $pinned: using the stable toolchain at $sysroot (the same release)"
fi
