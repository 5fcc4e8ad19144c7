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

step() { printf '\n==> %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]
}

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

if [ "${#missing[@]}" -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' services (influxdb on :8086, victoria-metrics on
    # :8428) from starting: policy-rc.d exit 101 makes invoke-rc.d and
    # deb-systemd-invoke skip them. The tests start their own instances.
    policy=/usr/sbin/policy-rc.d
    created_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        created_policy=yes
    fi
    status=0
    {
        as_root apt-get update -q &&
            as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
    } || status=$?
    if [ "$created_policy" = yes ]; then as_root rm -f "$policy"; fi
    if [ "$status" -ne 0 ]; then
        echo "test.sh: installing ${missing[*]} failed" >&2
        exit "$status"
    fi
fi

for program in influxd victoria-metrics mbpoll python3 systemd-analyze openssl curl; do
    have "$program" || { echo "test.sh: missing program after install: $program" >&2; exit 1; }
done

# --- PyPI: pymodbus ----------------------------------------------------------
pymodbus_ok() {
    python3 -c "import sys, pymodbus; sys.exit(pymodbus.__version__ != '$PYMODBUS_VERSION')" 2>/dev/null
}
if ! pymodbus_ok; then
    step "installing pymodbus==$PYMODBUS_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "pymodbus==$PYMODBUS_VERSION" ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages \
            "pymodbus==$PYMODBUS_VERSION"
    pymodbus_ok || { echo "test.sh: pymodbus $PYMODBUS_VERSION is not importable by python3" >&2; exit 1; }
fi

# --- PyPI: aiosmtpd (the SMTP server of the notification tests) --------------
aiosmtpd_ok() {
    python3 -c "import sys, aiosmtpd; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null
}
if ! aiosmtpd_ok; then
    step "installing aiosmtpd==$AIOSMTPD_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages \
            "aiosmtpd==$AIOSMTPD_VERSION"
    aiosmtpd_ok || { echo "test.sh: aiosmtpd $AIOSMTPD_VERSION is not importable by python3" >&2; exit 1; }
fi

# --- PyPI: schemathesis (tests/openapi.rs: the API against openapi.yaml) ---------
schemathesis_ok() {
    python3 -c "import sys, schemathesis; sys.exit(schemathesis.__version__ != '$SCHEMATHESIS_VERSION')" 2>/dev/null &&
        command -v schemathesis >/dev/null
}
if ! schemathesis_ok; then
    step "installing schemathesis==$SCHEMATHESIS_VERSION from PyPI"
    python3 -m pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages \
            "schemathesis==$SCHEMATHESIS_VERSION"
    schemathesis_ok || { echo "test.sh: schemathesis $SCHEMATHESIS_VERSION is not installed (python3 module and program on PATH)" >&2; exit 1; }
fi

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
