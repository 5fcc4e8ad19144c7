#!/usr/bin/env python3
"""Prints scripts/bench.sh's table (Markdown) from measure.py's JSON lines, then the ratios
of CPU per request (vigie / floor, pymodbus / vigie) per device count."""

import json
import math
import sys

LAYOUT = ("Devices: half on their own port (unit id 1), half behind gateways of 10 unit ids; "
          "one connection per port. Each device: 10 points (f32, u16, u32, i16; ABCD, CDAB, DCBA) "
          "in 2 reads (holding 0-7, input 0-8), polled every 1 s.")
HEADER = ("| devices | poller | requests/s | samples/s | CPU (core) | CPU µs/request | CPU µs/sample "
          "| lateness p50 / p99 / max (ms) | missed slots | peak RSS (MiB) | found / served | simulator CPU (core) |")


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def row(r):
    s = r["seconds"]
    cpu = r["cpu_seconds"]
    req, smp = r["requests"], r["samples"]
    bound = "≤" if r.get("lateness_max_is_bucket_bound") else ""
    late = f'{fmt(r["lateness_p50_ms"])} / {fmt(r["lateness_p99_ms"])} / {bound}{fmt(r["lateness_max_ms"])}'
    if "found" in r:
        ratio = r["found"] / r["served"] if r["served"] else float("nan")
        found = f'{r["found"]:,} / {int(r["served"]):,} ({ratio:.4f})'
    else:
        found = "- (not stored)"
    poller = r["poller"] + (" (stopped by SIGTERM)" if r.get("terminated") else "")
    return (f'| {r["devices"]:,} | {poller} | {fmt(req / s, 0)} | {fmt(smp / s, 0)} '
            f'| {fmt(cpu / r["wall_seconds"], 3)} | {fmt(cpu / req * 1e6 if req else None)} '
            f'| {fmt(cpu / smp * 1e6 if smp else None, 2)} | {late} | {int(r["missed_slots"]):,} '
            f'| {fmt(r["peak_rss_mib"])} | {found} | {fmt(r["sim_cpu_seconds"] / r["wall_seconds"], 3)} |')


def spread_note(runs):
    """Whether polls were spread over the second (measure.py's `spread`), for the notes."""
    seen = {r.get("spread") for r in runs}
    if seen == {True}:
        return ("Poll spread: on. vigie ran with `[daemon] poll_spread = true`; the floor and pymodbus "
                "used the same phases (FNV-1a 64 of `127.0.0.1:PORT` mod 1 s, whole ms, a gateway's units "
                "spaced evenly over the second from there), so each device is polled at its own instant "
                "in the second and timestamps are not whole seconds.")
    if seen == {False}:
        return "Poll spread: off. Every poller polled every port on the whole second (epoch-aligned grid)."
    return "Poll spread: not recorded for every run (older figures, or runs mixed)."


def per_request(r):
    return r["cpu_seconds"] / r["requests"] if r and r["requests"] else None


def main():
    path = sys.argv[1]
    runs = [json.loads(line) for line in open(path) if line.strip()]
    print(LAYOUT)
    print(f'Window: {runs[0]["seconds"]} s per poller after a warm-up; CPU = user + sys seconds per '
          "wall second (/proc/PID/stat). vigie's lateness is interpolated in its /metrics histogram "
          "(max: the highest non-empty bucket's bound, ≤)." if runs else "")
    if runs:
        soaks = sorted({str(r["soak_seconds"]) + " s" if "soak_seconds" in r else "not recorded"
                        for r in runs if r["poller"] == "vigie"})
        print(f"vigie's soak before its window: {', '.join(soaks) or 'no vigie run'} (its peak RSS "
              "grows for about 5 minutes; README \"Benchmarks\"); the floor and pymodbus are not "
              "soaked, so their peak RSS is a one-minute run's.")
        print(spread_note(runs) + "\n")
    print(HEADER)
    print("|" + " --- |" * HEADER.count(" | ") + " --- |")
    for r in runs:
        print(row(r))
    print("\n| devices | CPU per request: vigie / floor | pymodbus / vigie |\n| --- | --- | --- |")
    for n in sorted({r["devices"] for r in runs}):
        by = {r["poller"]: r for r in runs if r["devices"] == n}
        v, f, p = (per_request(by.get(k)) for k in ("vigie", "floor", "pymodbus"))
        vf = f"{v / f:.2f}" if v and f else "-"
        pv = f"{p / v:.2f}" if v and p else "-"
        print(f"| {n:,} | {vf} | {pv} |")


if __name__ == "__main__":
    main()
