#!/usr/bin/env python3
"""Runs one poller (vigie, floor or pymodbus) against the running simulator for a fixed
window and writes its figures as one JSON object (scripts/bench.sh).

The window is (A, B] in whole Unix seconds, A a few seconds (--warmup) after the poller is
up, B = A + --seconds. CPU is read from /proc/PID/stat (utime + stime) at A + 0.75 s and
B + 0.75 s, between two slots' polls when polls are aligned to the whole second (with
--spread polls go on all through the second, so the readings fall amid polls; the CPU window
is still exactly --seconds long); peak RSS is VmHWM from /proc/PID/status just before the
poller stops. vigie's figures come from its /metrics, scraped at the same instants (before
the first CPU reading and after the second, so the scrapes are not in the window); the floor
and the pymodbus poller measure themselves over the same slots. Samples found in the store
are counted in victoria-metrics over (A, B] by slot timestamp. --spread passes --spread to
the floor and the pymodbus poller (vigie's is in its vigie.toml, gen.py --spread) and is
recorded in the JSON.

vigie can run --soak seconds before its warm-up, its /metrics scraped every 15 s as Prometheus
would, so that its peak RSS is a long run's (the references are not soaked). Whatever
happens, the poller is stopped before this script ends, so none is left polling the
simulator under the next run.
"""

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent
LINE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
LE = re.compile(r'le="([^"]+)"')
COUNTERS = ("vigie_requests_total", "vigie_polls_total", "vigie_timeouts_total",
            "vigie_errors_total", "vigie_exceptions_total", "vigie_missed_slots_total",
            "vigie_samples_good_total", "vigie_writer_lines_total")
LATENESS = "vigie_poll_lateness_seconds_bucket"


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def http_get(url, timeout=30):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def parse_metrics(text):
    """vigie's counters summed over devices, and the lateness histogram {le: count}."""
    totals = dict.fromkeys(COUNTERS, 0.0)
    buckets = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.groups()
        if name in totals:
            totals[name] += float(value)
        elif name == LATENESS:
            le = float(LE.search(labels).group(1))
            buckets[le] = buckets.get(le, 0.0) + float(value)
    return totals, buckets


def histogram_quantiles(before, after):
    """p50, p99 (linear inside a bucket, as Prometheus' histogram_quantile) and the upper
    bound of the highest non-empty bucket, in ms, of the observations between two scrapes."""
    bounds = sorted(after)
    cum = [after[b] - before.get(b, 0.0) for b in bounds]
    total = cum[-1] if cum else 0.0
    if total <= 0:
        return float("nan"), float("nan"), float("nan")

    def q(p):
        rank = p * total
        lo, below = 0.0, 0.0
        for b, c in zip(bounds, cum):
            if c >= rank:
                if math.isinf(b):
                    return lo * 1e3
                return (lo + (b - lo) * (rank - below) / max(c - below, 1e-9)) * 1e3
            lo, below = b, c
        return lo * 1e3

    top = next(b for b, c in zip(bounds, cum) if c >= total)
    return q(0.50), q(0.99), top * 1e3


def count_in_store(vm_url, start, end):
    """`telemetry` samples with a timestamp in (start, end], once the count is stable."""
    query = f'sum(count_over_time({{__name__=~"telemetry_.+"}}[{end - start}s]))'
    url = f"{vm_url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": end, "nocache": 1})
    last = None
    for _ in range(30):
        time.sleep(2)
        result = json.loads(http_get(url, timeout=120))["data"]["result"]
        n = int(float(result[0]["value"][1])) if result else 0
        if n == last:
            return n
        last = n
    return last


def profile_points(sim_toml):
    """Points per device (every unit of the benchmark has the same profile): the samples an
    answered poll gives."""
    sim = tomllib.loads(sim_toml.read_text())
    profile = sim["servers"][0]["units"][0]["profile"]
    return len(tomllib.loads((Path(sim["profiles_dir"]) / f"{profile}.toml").read_text())["points"])


def stop(proc, grace_s):
    """Waits for the poller to end; SIGTERM after grace_s (the references then write the
    figures they have), SIGKILL 30 s later."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=grace_s if sig is None else 30)
            return
        except subprocess.TimeoutExpired:
            pass


def sleep_until(t):
    time.sleep(max(0.0, t - time.time()))


def wait_http(url, deadline_s, proc):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"measure.py: the poller exited early ({proc.returncode})")
        try:
            http_get(url, timeout=5)
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"measure.py: {url} did not answer in {deadline_s} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poller", choices=("vigie", "floor", "pymodbus"), required=True)
    ap.add_argument("--dir", type=Path, required=True, help="gen.py's directory")
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--soak", type=int, default=0,
                    help="vigie only: seconds it runs before the warm-up, /metrics scraped every 15 s "
                         "(as Prometheus would), so that its peak RSS is a long run's")
    ap.add_argument("--sim-pid", type=int, required=True)
    ap.add_argument("--vm-url", required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--vigie", required=True, help="the vigie binary")
    ap.add_argument("--floor", required=True, help="the bench_floor binary")
    ap.add_argument("--spread", action="store_true",
                    help="the references use vigie's poll_spread phases (gen.py --spread for vigie)")
    args = ap.parse_args()
    d = args.dir
    log = open(d / f"{args.poller}.log", "w")
    figures = d / f"{args.poller}.figures.json"
    api = f"127.0.0.1:{args.api_port}"
    if args.poller == "vigie":
        proc = subprocess.Popen([args.vigie, "run", "-c", str(d / "vigie.toml")], stdout=log, stderr=log)
    else:
        start = math.ceil(time.time() + args.warmup)
        window = ["--window-start", str(start), "--window-end", str(start + args.seconds)]
        cmd = ([args.floor, "--sim", str(d / "sim.toml"), "--out", str(figures)] if args.poller == "floor"
               else [sys.executable, str(HERE.parent / "pymodbus_poller.py"), "--sim", str(d / "sim.toml"),
                     "--vm-url", args.vm_url, "--out", str(figures)])
        proc = subprocess.Popen(cmd + window + (["--spread"] if args.spread else []), stdout=log, stderr=log)
    try:
        measure(args, proc, api, figures, start if args.poller != "vigie" else None)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            stop(proc, 60)


def measure(args, proc, api, figures, start):
    """Measures the running poller `proc` and prints its JSON line; `start` is the window's
    first second, None for vigie (set after its start-up and soak)."""
    if args.poller == "vigie":
        wait_http(f"http://{api}/health", 300, proc)
        soak_end = time.time() + args.soak
        while time.time() < soak_end:
            time.sleep(min(15.0, max(0.0, soak_end - time.time())))
            if proc.poll() is not None:
                sys.exit(f"measure.py: vigie exited during its soak (code {proc.returncode})")
            http_get(f"http://{api}/metrics")
        start = math.ceil(time.time() + args.warmup)
    end = start + args.seconds

    sleep_until(start + 0.75)
    if args.poller == "vigie":
        metrics_before = http_get(f"http://{api}/metrics")  # parsed after the CPU reading
    cpu0, sim0, t0 = cpu_seconds(proc.pid), cpu_seconds(args.sim_pid), time.time()
    sleep_until(end + 0.75)
    cpu1, sim1, t1 = cpu_seconds(proc.pid), cpu_seconds(args.sim_pid), time.time()
    rss = peak_rss_mib(proc.pid)
    if args.poller == "vigie":
        metrics_after = http_get(f"http://{api}/metrics")
        proc.send_signal(signal.SIGTERM)
    stop(proc, 60)

    out = {"devices": args.devices, "poller": args.poller, "seconds": args.seconds,
           "window": [start, end], "wall_seconds": t1 - t0, "cpu_seconds": cpu1 - cpu0,
           "sim_cpu_seconds": sim1 - sim0, "peak_rss_mib": rss, "spread": args.spread,
           "soak_seconds": args.soak if args.poller == "vigie" else 0}
    if args.poller == "vigie":
        (before, hist_before), (after, hist_after) = map(parse_metrics, (metrics_before, metrics_after))
        delta = {k: after[k] - before[k] for k in COUNTERS}
        p50, p99, top = histogram_quantiles(hist_before, hist_after)
        answered = delta["vigie_polls_total"] - delta["vigie_timeouts_total"] - delta["vigie_errors_total"]
        points = profile_points(args.dir / "sim.toml")
        out.update(requests=delta["vigie_requests_total"],
                   requests_failed=delta["vigie_timeouts_total"] + delta["vigie_errors_total"] + delta["vigie_exceptions_total"],
                   samples=answered * points, served=answered * points,
                   samples_drained=delta["vigie_samples_good_total"],
                   missed_slots=delta["vigie_missed_slots_total"],
                   lateness_p50_ms=p50, lateness_p99_ms=p99, lateness_max_ms=top, lateness_max_is_bucket_bound=True)
    elif figures.exists():
        mine = json.loads(figures.read_text())
        out.update(mine, served=mine["samples"])
    else:
        sys.exit(f"measure.py: {args.poller} wrote no figures; see {args.dir / args.poller}.log")
    if args.poller != "floor":
        out["found"] = count_in_store(args.vm_url, start, end)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
