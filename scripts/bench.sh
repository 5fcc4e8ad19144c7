#!/usr/bin/env bash
# The polling benchmark (issue 7; README "Benchmarks"). For each device count N it starts
# vigie's simulator with N devices and a fresh victoria-metrics, then polls the same devices
# every 1 s, one poller after the other for the same time:
#   vigie      `vigie run` writing to victoria-metrics (InfluxDB line protocol, /write)
#   floor      examples/bench_floor.rs: bare tokio-modbus reads, no decoding, no writing
#   pymodbus   benches/pymodbus_poller.py: asyncio + pymodbus, decoding, writing the same lines
# and prints one table (benches/harness/table.py). By default polls are spread over the second
# (vigie's `[daemon] poll_spread = true`; the floor and pymodbus use the same per-port phases);
# BENCH_SPREAD=0 polls every port on the whole second (epoch-aligned) instead. Installs victoria-metrics (Debian) and
# pymodbus (PyPI) when missing. Everything runs on loopback, in a temporary directory.
#
#   BENCH_DEVICES="100 1000 10000"   device counts
#   BENCH_SECONDS=60                 measured window per poller, after BENCH_WARMUP=5 s
#   BENCH_BASE_PORT=20000            the simulator's first port (N/2 + N/20 ports follow)
#   BENCH_SOAK=300                   vigie runs this long (its /metrics scraped every 15 s) before
#                                    its warm-up: its peak RSS grows for its first ~5 min (each
#                                    connection's tokio-util read and write buffers, 8 KiB each,
#                                    are written through from one end to the other), so a
#                                    shorter run would understate it
#   BENCH_SPREAD=1                   1: poll_spread = true and the same phases in the references;
#                                    0: every poller aligned to the whole second
#   BENCH_KEEP=1                     keep the temporary directory (configs, logs, JSON)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEVICES=${BENCH_DEVICES:-100 1000 10000}
SECONDS_PER_RUN=${BENCH_SECONDS:-60}
WARMUP=${BENCH_WARMUP:-5}
SOAK=${BENCH_SOAK:-300}
BASE_PORT=${BENCH_BASE_PORT:-20000}
SPREAD=${BENCH_SPREAD:-1}
case "$SPREAD" in
    1) spread_args=(--spread) ;;
    0) spread_args=() ;;
    *) echo "bench.sh: BENCH_SPREAD must be 0 or 1, not '$SPREAD'" >&2; exit 2 ;;
esac
PYMODBUS_VERSION=3.8.6

# shellcheck source=scripts/install.sh
source scripts/install.sh

# --- victoria-metrics and python3 (Debian), as scripts/test.sh installs them ---------------
missing=()
have victoria-metrics || missing+=(victoria-metrics)
have python3 || missing+=(python3 python3-pip)
[ "${#missing[@]}" -eq 0 ] || apt_install bench.sh "${missing[@]}"
VM=$(command -v victoria-metrics || echo /usr/bin/victoria-metrics)

# --- pymodbus (PyPI) ----------------------------------------------------------------------
pip_exact bench.sh pymodbus "$PYMODBUS_VERSION"

# --- build --------------------------------------------------------------------------------
step "cargo build --release (vigie, examples/bench_floor)"
cargo build --release --bin vigie --example bench_floor
TARGET=${CARGO_TARGET_DIR:-target}
VIGIE=$TARGET/release/vigie
FLOOR=$TARGET/release/examples/bench_floor

# 10,000 devices are thousands of sockets in each process: allow what the system allows.
ulimit -n "$(ulimit -Hn)"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # URL or host:port, seconds
    python3 - "$1" "$2" <<'EOF'
import socket, sys, time, urllib.request
target, end = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        if target.startswith("http"):
            urllib.request.urlopen(target, timeout=2).read()
        else:
            host, port = target.rsplit(":", 1)
            socket.create_connection((host, int(port)), timeout=2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(f"bench.sh: {target} not ready after {sys.argv[2]} s")
EOF
}

WORK=$(mktemp -d -t vigie-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_all
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench.sh: files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

for n in $DEVICES; do
    dir=$WORK/n$n
    mkdir -p "$dir"
    vm_port=$(free_port)
    api_port=$(free_port)
    ports=$(python3 benches/harness/gen.py --devices "$n" --dir "$dir" --base-port "$BASE_PORT" \
        --profiles-dir benches/profiles --vm-url "http://127.0.0.1:$vm_port" --api-port "$api_port" ${spread_args[@]+"${spread_args[@]}"})
    step "$n devices on $ports ports ($BASE_PORT..$((BASE_PORT + ports - 1))): simulator, victoria-metrics"
    "$VIGIE" simulate -c "$dir/sim.toml" >"$dir/sim.log" 2>&1 &
    sim_pid=$!
    pids+=("$sim_pid")
    "$VM" -storageDataPath="$dir/vm" -httpListenAddr="127.0.0.1:$vm_port" -retentionPeriod=100y \
        -search.latencyOffset=0s -search.maxUniqueTimeseries=10000000 >"$dir/vm.log" 2>&1 &
    pids+=("$!")
    wait_for "127.0.0.1:$((BASE_PORT + ports - 1))" 120
    wait_for "http://127.0.0.1:$vm_port/health" 60
    for poller in vigie floor pymodbus; do
        soak=0
        [ "$poller" = vigie ] && soak=$SOAK
        step "$n devices: $poller, ${soak} s soak, ${WARMUP} s warm-up, then ${SECONDS_PER_RUN} s"
        python3 benches/harness/measure.py --poller "$poller" --dir "$dir" --devices "$n" \
            --seconds "$SECONDS_PER_RUN" --warmup "$WARMUP" --soak "$soak" --sim-pid "$sim_pid" \
            --vm-url "http://127.0.0.1:$vm_port" --api-port "$api_port" \
            --vigie "$VIGIE" --floor "$FLOOR" ${spread_args[@]+"${spread_args[@]}"} | tee -a "$RESULTS" >&2 ||
            echo "bench.sh: $poller at $n devices gave no figures (its log: BENCH_KEEP=1)" >&2
    done
    stop_all
done

step "results (machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
python3 benches/harness/table.py "$RESULTS"
