# Sourced by scripts/test.sh and scripts/bench.sh: what they need, installed when missing.
# WHO (the first argument of each function) names the calling script in error messages.

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]
}

# apt_install WHO PACKAGE...: installs Debian packages without starting their services
# (influxdb on :8086, victoria-metrics on :8428): policy-rc.d exit 101 makes invoke-rc.d and
# deb-systemd-invoke skip them. The tests and benchmarks start their own instances.
apt_install() {
    local who=$1
    shift
    step "installing Debian packages: $*"
    local policy=/usr/sbin/policy-rc.d created_policy=no status=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        created_policy=yes
    fi
    {
        as_root apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@"
    } || status=$?
    if [ "$created_policy" = yes ]; then as_root rm -f "$policy"; fi
    if [ "$status" -ne 0 ]; then
        echo "$who: installing $* failed" >&2
        exit "$status"
    fi
}

# pip_exact WHO PACKAGE VERSION [PROGRAM]: installs PACKAGE==VERSION from PyPI unless python3
# already imports that version (and PROGRAM, when given, is on PATH).
pip_exact() {
    local who=$1 package=$2 version=$3 program=${4:-}
    pip_exact_ok() {
        python3 -c "import sys, $package; sys.exit($package.__version__ != '$version')" 2>/dev/null &&
            { [ -z "$program" ] || command -v "$program" >/dev/null; }
    }
    if ! pip_exact_ok; then
        step "installing $package==$version from PyPI"
        python3 -m pip install -q --disable-pip-version-check "$package==$version" ||
            python3 -m pip install -q --disable-pip-version-check --break-system-packages \
                "$package==$version"
        pip_exact_ok || {
            echo "$who: $package $version is not installed (importable by python3${program:+, $program on PATH})" >&2
            exit 1
        }
    fi
}
