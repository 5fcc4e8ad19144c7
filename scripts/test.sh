#!/usr/bin/env bash
# Installs what the tests need (when missing), then runs the project's checks:
# rustfmt, clippy (warnings are errors), the release build (the demo's) and every test.
#
# The integration tests start real peers themselves, on free loopback ports in
# temporary directories: pymodbus (Modbus TCP server), Debian's influxd
# (InfluxDB 1.6.7), victoria-metrics, the mbpoll client, libfaketime, and aiosmtpd (an
# SMTP server, from PyPI) with Python's own http.server for notifications, and schemathesis
# (PyPI) which checks the running API against openapi.yaml. Nothing needs to
# be running beforehand; no system service is started.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYMODBUS_VERSION=3.8.6
AIOSMTPD_VERSION=1.4.6
SCHEMATHESIS_VERSION=4.32.5

# shellcheck source=scripts/install.sh
source scripts/install.sh

# --- Debian packages ---------------------------------------------------------
missing=()
have influxd || missing+=(influxdb)
have victoria-metrics || missing+=(victoria-metrics)
have mbpoll || missing+=(mbpoll)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] || missing+=(faketime)
have python3 || missing+=(python3 python3-pip)
have systemd-analyze || missing+=(systemd)   # verifies deploy/vigie.service
have openssl || missing+=(openssl)           # self-signed certificates of the TLS tests
have curl || missing+=(curl)                 # a second HTTPS client in the TLS tests

[ "${#missing[@]}" -eq 0 ] || apt_install test.sh "${missing[@]}"

for program in influxd victoria-metrics mbpoll python3 systemd-analyze openssl curl; do
    have "$program" || { echo "test.sh: missing program after install: $program" >&2; exit 1; }
done

# --- PyPI: pymodbus (Modbus server), aiosmtpd (the notification tests' SMTP server),
# schemathesis (tests/openapi.rs: the API against openapi.yaml) -----------------------
pip_exact test.sh pymodbus "$PYMODBUS_VERSION"
pip_exact test.sh aiosmtpd "$AIOSMTPD_VERSION"
pip_exact test.sh schemathesis "$SCHEMATHESIS_VERSION" schemathesis

# --- cargo-fuzz (scripts/fuzz.sh: the fuzz targets of fuzz/) ----------------------
CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
    step "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

# --- checks ------------------------------------------------------------------
failed=()

step "cargo fmt --all -- --check"
cargo fmt --all -- --check || failed+=(fmt)

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || failed+=(clippy)

# The README's main command is `cargo run --release -- demo`: the release profile must build
# too (it has failed alone before: a type too deep for rustc in release only).
step "cargo build --release"
cargo build --release || failed+=(release-build)

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests; run them first so that the test
    # runner's closing summary is the last thing printed.
    step "cargo test --doc"
    cargo test --doc || failed+=(doctests)
    step "cargo nextest run --all-targets --no-fail-fast"
    cargo nextest run --all-targets --no-fail-fast || failed+=(tests)
else
    step "cargo test --all-targets"
    cargo test --all-targets || failed+=(tests)
fi

# Every fuzz target for FUZZ_SECONDS (default 20) on the stable toolchain
# (RUSTC_BOOTSTRAP=1, AddressSanitizer); a crash fails the run. Longer: scripts/fuzz.sh 600.
step "scripts/fuzz.sh ${FUZZ_SECONDS:-20}"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || failed+=(fuzz)

if [ "${#failed[@]}" -gt 0 ]; then
    echo
    echo "test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
