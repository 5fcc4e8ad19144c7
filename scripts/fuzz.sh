#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo fuzz, libFuzzer) for SECONDS each (default 600),
# one after the other, and fails on the first crash; README "Fuzzing".
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Works on the stable toolchain: cargo fuzz passes nightly -Z flags to rustc, which
# RUSTC_BOOTSTRAP=1 allows. AddressSanitizer is used (it works on stable this way).
# Seeds come from the repository (plc-profiles/, vigie.example.toml, the README's examples
# and bodies) into fuzz/corpus/TARGET/, which libFuzzer then grows; a crash leaves its input
# in fuzz/artifacts/TARGET/ (replay: scripts/fuzz.sh with the same target, or
# `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…` in fuzz/), and
# becomes a unit test in src/ next to the code it broke.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_EACH=${1:-600}
shift || true
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(modbus_decode profile_parse config_parse api_bodies)

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    echo "==> installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

# Seed corpora from the repository's own files (kept out of git: fuzz/.gitignore).
seed() {
    local dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    shift
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$dir/seed-$(basename "$f")"
    done
    return 0
}
seed profile_parse plc-profiles/*.toml
seed config_parse vigie.example.toml
# The README's ```toml blocks, each a seed of config_parse.
awk -v dir=fuzz/corpus/config_parse '
    /^```toml/ { n++; out = sprintf("%s/seed-readme-%03d.toml", dir, n); next }
    /^```/ { out = ""; next }
    out != "" { print > out }
' README.md

cd fuzz
for t in "${TARGETS[@]}"; do
    echo "==> fuzzing $t for ${SECONDS_EACH}s"
    mkdir -p "corpus/$t"
    cargo fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=4096 -max_len=65536 -timeout=10 \
        -print_final_stats=1
done
