#!/usr/bin/env python3
"""Where a poller's CPU per request goes, kernel included (BENCHMARKS.md "Profile with kernel
time"). Runs against a simulator and victoria-metrics already started from gen.py's
directory (as scripts/bench.sh does), one poller at a time:

  cpu     a window of --seconds with nothing attached: utime and stime of every thread
          (/proc/PID/task/*/stat), voluntary and involuntary context switches
          (/proc/PID/task/*/status), run-queue wait (/proc/PID/task/*/schedstat), and the
          requests answered in the window (vigie: /metrics; floor: its own JSON)
  strace  `strace -c -f -p PID` over a second window: system calls by name
  perf    `perf record -e cpu-clock -g -p PID` over a third window (software clock: this
          virtual machine has no hardware counters), kernel symbols included

Writes `<poller>.kprofile.json` (and `<poller>.strace.txt`, `<poller>.perf.data`) in --dir
and prints a summary. The floor is run once per phase, with its window set to the phase.

  python3 benches/harness/kprofile.py --poller vigie --dir DIR --api-port P \\
      --vigie target/release/vigie --floor target/release/examples/bench_floor
"""

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import measure

CLK_TCK = os.sysconf("SC_CLK_TCK")


def threads(pid):
    """{tid: {name, utime_s, stime_s, vcsw, nvcsw, run_ns, wait_ns, slices}} of a process."""
    out = {}
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (t / "stat").read_text()
            status = (t / "status").read_text()
            sched = (t / "schedstat").read_text().split()
        except OSError:  # the thread ended between listing and reading
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat.rsplit(")", 1)[1].split()
        ctx = {k: int(v) for k, v in (l.split(":") for l in status.splitlines() if "ctxt_switches" in l)}
        out[int(t.name)] = {"name": name, "utime_s": int(f[11]) / CLK_TCK, "stime_s": int(f[12]) / CLK_TCK,
                            "vcsw": ctx["voluntary_ctxt_switches"], "nvcsw": ctx["nonvoluntary_ctxt_switches"],
                            "run_ns": int(sched[0]), "wait_ns": int(sched[1]), "slices": int(sched[2])}
    return out


def process_cpu(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) / CLK_TCK, int(f[12]) / CLK_TCK


def delta(before, after):
    """Per-thread differences; a thread born in the window counts from zero."""
    keys = ("utime_s", "stime_s", "vcsw", "nvcsw", "run_ns", "wait_ns", "slices")
    rows = {}
    for tid, a in after.items():
        b = before.get(tid, dict.fromkeys(keys, 0))
        rows[tid] = {"name": a["name"], **{k: a[k] - b[k] for k in keys}}
    return rows


def start_poller(args, window):
    """The poller's process; `window` = (start, end) Unix seconds for the floor."""
    d = args.dir
    log = open(d / f"{args.tag}.kprofile.log", "a")
    if args.poller == "vigie":
        proc = subprocess.Popen([args.vigie, "run", "-c", str(d / "vigie.toml")], stdout=log, stderr=log)
        measure.wait_http(f"http://127.0.0.1:{args.api_port}/health", 300, proc)
        return proc
    return subprocess.Popen([args.floor, "--sim", str(d / "sim.toml"), "--out", str(d / "floor.figures.json"),
                             "--window-start", str(window[0]), "--window-end", str(window[1])],
                            stdout=log, stderr=log)


def requests_of(args, proc, window, metrics_before=None):
    """Requests answered over the window: vigie's /metrics delta, or the floor's figures."""
    if args.poller == "vigie":
        after, _ = measure.parse_metrics(measure.http_get(f"http://127.0.0.1:{args.api_port}/metrics"))
        before, _ = measure.parse_metrics(metrics_before)
        return {k: after[k] - before[k] for k in ("vigie_requests_total", "vigie_timeouts_total",
                                                  "vigie_errors_total", "vigie_missed_slots_total")}
    measure.stop(proc, 60)
    mine = json.loads((args.dir / "floor.figures.json").read_text())
    return {"vigie_requests_total": mine["requests"], "failed": mine["requests_failed"],
            "vigie_missed_slots_total": mine["missed_slots"]}


def phase(args, proc, kind):
    """One window; returns (proc, figures). For the floor a fresh process per phase."""
    start = math.ceil(time.time() + args.warmup)
    end = start + args.seconds
    if args.poller == "floor":
        proc = start_poller(args, (start, end))
    measure.sleep_until(start + 0.75)
    metrics_before = (measure.http_get(f"http://127.0.0.1:{args.api_port}/metrics")
                      if args.poller == "vigie" else None)
    fig = {"window": [start, end]}
    if kind == "cpu":
        t0, th0, p0 = time.time(), threads(proc.pid), process_cpu(proc.pid)
        measure.sleep_until(end + 0.75)
        t1, th1, p1 = time.time(), threads(proc.pid), process_cpu(proc.pid)
        fig.update(wall_s=t1 - t0, threads=delta(th0, th1),
                   process_utime_s=p1[0] - p0[0], process_stime_s=p1[1] - p0[1])
    elif kind == "strace":
        out = args.dir / f"{args.tag}.strace.txt"
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", str(out), "-p", str(proc.pid)],
                                  stderr=subprocess.DEVNULL)
        measure.sleep_until(end + 0.75)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
        fig["strace"] = out.read_text()
    else:
        out = args.dir / f"{args.tag}.perf.data"
        rec = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", str(out),
                                "-p", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        measure.sleep_until(end + 0.75)
        rec.send_signal(signal.SIGINT)
        rec.wait(60)
        fig["perf_data"] = str(out)
    fig["requests"] = requests_of(args, proc, (start, end), metrics_before)
    return proc, fig


def summary(fig, poller):
    cpu = fig["cpu"]
    req = cpu["requests"]["vigie_requests_total"]
    print(f"{poller}: {req:.0f} requests in {cpu['wall_s']:.1f} s; process user {cpu['process_utime_s']:.2f} s, "
          f"sys {cpu['process_stime_s']:.2f} s: {1e6 * cpu['process_utime_s'] / req:.2f} + "
          f"{1e6 * cpu['process_stime_s'] / req:.2f} µs/request")
    by_name = defaultdict(lambda: defaultdict(float))
    for t in cpu["threads"].values():
        g = by_name[t["name"]]
        g["threads"] += 1
        for k, v in t.items():
            if k != "name":
                g[k] += v
    print("thread name | threads | user µs/req | sys µs/req | vol. csw/req | invol. csw/req | on-CPU µs/req (schedstat) | run-queue wait µs/req")
    for name, g in sorted(by_name.items(), key=lambda kv: -kv[1]["run_ns"]):
        print(f"{name} | {g['threads']:.0f} | {1e6 * g['utime_s'] / req:.2f} | {1e6 * g['stime_s'] / req:.2f} | "
              f"{g['vcsw'] / req:.3f} | {g['nvcsw'] / req:.3f} | {g['run_ns'] / 1e3 / req:.2f} | {g['wait_ns'] / 1e3 / req:.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--poller", choices=("vigie", "floor"), required=True)
    ap.add_argument("--dir", type=Path, required=True, help="gen.py's directory")
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--vigie", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--seconds", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--phases", default="cpu,strace,perf")
    ap.add_argument("--tag", help="names the output files (default: the poller)")
    args = ap.parse_args()
    args.tag = args.tag or args.poller
    proc = start_poller(args, None) if args.poller == "vigie" else None
    figures = {}
    try:
        for kind in args.phases.split(","):
            proc, figures[kind] = phase(args, proc, kind)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            measure.stop(proc, 30)
    (args.dir / f"{args.tag}.kprofile.json").write_text(json.dumps(figures, indent=1))
    if "cpu" in figures:
        summary(figures, args.tag)
    if "strace" in figures:
        req = figures["strace"]["requests"]["vigie_requests_total"]
        print(f"strace window: {req:.0f} requests; calls per request:")
        for line in figures["strace"]["strace"].splitlines()[2:]:
            f = line.split()
            if len(f) >= 5 and f[3].isdigit():
                print(f"  {f[-1]:<16} {int(f[3]) / req:8.3f}   ({line.strip()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
