#!/usr/bin/env python3
"""The benchmark's hand-written reference (scripts/bench.sh): what a user would write with
pymodbus 3.8 and asyncio to do vigie's job on the simulator's devices.

One AsyncModbusTcpClient per server of sim.toml (a gateway or a device), its units polled one
after the other on a 1 s grid aligned to the clock (with --spread: each unit's grid shifted by
the phase vigie gives it with `[daemon] poll_spread = true`, the same FNV-1a 64 of the server's
address as vigie::poll::grid, units spaced evenly over the second), the same two reads per device as vigie
(holding and input blocks of the profile), decoded with pymodbus' convert_from_registers,
written as the same line protocol as vigie (`telemetry` with one field per point and
`device_status` per poll) to victoria-metrics' /write, in batches of 5000 lines or every 1 s.

It measures itself as vigie does: lateness = poll start - grid slot; a slot already over when
the connection gets to it is missed. Only slots in (--window-start, --window-end] (Unix
seconds) are counted; 1.5 s after the window it sends what is left, writes its figures as
JSON to --out and exits.

Connects are staggered whether or not polls are spread: each client connects at its address's
phase in the first second, not all 5,500 at once (at 10,000 devices, simultaneous connects with
a 0.5 s timeout all time out).
"""

import argparse
import asyncio
import json
import math
import signal
import time
import tomllib
import urllib.request
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

DT = AsyncModbusTcpClient.DATATYPE
TYPES = {"u16": DT.UINT16, "i16": DT.INT16, "u32": DT.UINT32, "i32": DT.INT32,
         "f32": DT.FLOAT32, "u64": DT.UINT64, "i64": DT.INT64, "f64": DT.FLOAT64}
WIDTH = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "u64": 4, "i64": 4, "f64": 4}
BATCH_LINES = 5000
INTERVAL_NS = 1_000_000_000
# FNV-1a 64 (http://www.isthe.com/chongo/tech/comp/fnv/), as vigie::poll::grid.
FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
NS_PER_MS = 1_000_000


def fnv1a_64(data):
    h = FNV_OFFSET_BASIS
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def phase_ns(address, interval_ns=INTERVAL_NS):
    """vigie::poll::grid::phase_ns: FNV-1a 64 of the address's UTF-8 bytes mod the interval,
    rounded down to a whole ms; ns in [0, interval_ns)."""
    within = fnv1a_64(address.encode()) % interval_ns
    return within - within % NS_PER_MS


def device_phase_ns(address, index, count, interval_ns=INTERVAL_NS):
    """vigie::poll::grid::device_phase_ns: the address's phase plus index * interval / count
    (the index-th of the count units behind it), mod the interval, rounded down to a whole ms."""
    within = (phase_ns(address, interval_ns) + interval_ns * index // count) % interval_ns
    return within - within % NS_PER_MS


def next_slot_ns(now_ns, phase, interval_ns=INTERVAL_NS):
    """The first slot k * interval + phase (ns since the epoch) at or after now_ns."""
    return -(-(now_ns - phase) // interval_ns) * interval_ns + phase


def load_reads(profile_path):
    """The profile's points grouped in one read per table: [(table, start, count, points)]."""
    profile = tomllib.loads(Path(profile_path).read_text())
    default_order = profile.get("word_order", "ABCD")
    tables = {}
    for p in profile["points"]:
        p = dict(p, word_order=p.get("word_order", default_order), width=WIDTH[p["type"]])
        tables.setdefault(p["register"], []).append(p)
    reads = []
    for table, points in sorted(tables.items()):
        start = min(p["address"] for p in points)
        end = max(p["address"] + p["width"] for p in points)
        reads.append((table, start, end - start, points))
    return reads


def decode(p, regs):
    """A point's value from its registers: word order by pymodbus, byte swap by hand."""
    order = p["word_order"]
    if order in ("BADC", "DCBA"):
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    word_order = "little" if order in ("CDAB", "DCBA") else "big"
    value = AsyncModbusTcpClient.convert_from_registers(regs, TYPES[p["type"]], word_order)
    if "scale" in p or "offset" in p:
        return value * p.get("scale", 1.0) + p.get("offset", 0.0)
    return value


def field(name, value):
    if isinstance(value, int):
        return f"{name}={value}i"
    return f"{name}={value!r}" if math.isfinite(value) else None


class Stats:
    def __init__(self):
        self.lateness = []
        self.missed = 0
        self.requests = 0
        self.failed = 0
        self.samples = 0
        self.lines_written = 0
        self.write_errors = 0


class Writer:
    """Batches lines and posts them to /write, in a thread so polling goes on meanwhile."""

    def __init__(self, url, stats):
        self.url = url.rstrip("/") + "/write?db=bench"
        self.lines = []
        self.stats = stats
        self.pending = set()

    def add(self, line):
        self.lines.append(line)
        if len(self.lines) >= BATCH_LINES:
            self.flush()

    def flush(self):
        if not self.lines:
            return
        body, n = ("\n".join(self.lines) + "\n").encode(), len(self.lines)
        self.lines = []
        task = asyncio.create_task(asyncio.to_thread(self.post, body, n))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    def post(self, body, n):
        try:
            req = urllib.request.Request(self.url, data=body, method="POST")
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
            self.stats.lines_written += n
        except OSError:
            self.stats.write_errors += 1

    async def every_second(self, stop):
        while not stop.is_set():
            await asyncio.sleep(1.0)
            self.flush()


async def poll_connection(server, reads_of, window, stats, writer, spread):
    host, port = server["listen"].rsplit(":", 1)
    site = server["name"]
    client = AsyncModbusTcpClient(host, port=int(port), timeout=0.5, retries=0)
    units = [u["unit_id"] for u in server["units"]]
    phase = phase_ns(server["listen"])
    # Connect at this address's phase in the coming second (a failure is retried at the
    # first slot), then poll on the grid: shifted by the same phase with --spread.
    await asyncio.sleep(max(0.0, next_slot_ns(time.time_ns(), phase) / 1e9 - time.time()))
    await client.connect()
    now = time.time_ns()
    due = {u: next_slot_ns(now, device_phase_ns(server["listen"], k, len(units)) if spread else 0)
           for k, u in enumerate(units)}
    start, end = window[0] * INTERVAL_NS, window[1] * INTERVAL_NS
    while True:
        unit = min(units, key=lambda u: due[u])
        if due[unit] > end:
            break
        await asyncio.sleep(max(0.0, due[unit] / 1e9 - time.time()))
        now = time.time_ns()
        late = now - due[unit]
        missed = late // INTERVAL_NS if late >= INTERVAL_NS else 0
        slot = due[unit] + missed * INTERVAL_NS
        counted = start < slot <= end
        if counted:
            stats.missed += missed
            stats.lateness.append((now - slot) / 1e9)
        due[unit] = slot + INTERVAL_NS
        if not client.connected and not await client.connect():
            continue
        t0 = time.perf_counter()
        fields = []
        ok = True
        for table, address, count, points in reads_of[unit]:
            read = client.read_holding_registers if table == "holding" else client.read_input_registers
            if counted:
                stats.requests += 1
            try:
                reply = await read(address, count=count, slave=unit)
            except Exception:  # pymodbus raises ModbusException or IO errors
                reply = None
            if reply is None or reply.isError():
                ok = False
                if counted:
                    stats.failed += 1
                continue
            for p in points:
                off = p["address"] - address
                f = field(p["name"], decode(p, reply.registers[off:off + p["width"]]))
                if f:
                    fields.append(f)
            if counted:
                stats.samples += len(points)
        latency_ms = (time.perf_counter() - t0) * 1e3
        ts = slot
        device = f"u{unit}"
        if fields:
            writer.add(f"telemetry,site={site},device={device},kind=pumping_station {','.join(fields)} {ts}")
        up = "true" if ok else "false"
        writer.add(f"device_status,site={site},device={device} up={up},timeouts=0i,errors={0 if ok else 1}i,latency_ms={latency_ms!r} {ts}")
    client.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", required=True)
    ap.add_argument("--vm-url", required=True)
    ap.add_argument("--window-start", type=int, required=True)
    ap.add_argument("--window-end", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--spread", action="store_true",
                    help="each server's grid at its address's phase, as vigie's poll_spread = true")
    args = ap.parse_args()
    sim = tomllib.loads(Path(args.sim).read_text())
    profiles_dir = Path(sim["profiles_dir"])
    stats = Stats()
    writer = Writer(args.vm_url, stats)
    reads = {}
    tasks = []
    window = (args.window_start, args.window_end)
    for server in sim["servers"]:
        for u in server["units"]:
            if u["profile"] not in reads:
                reads[u["profile"]] = load_reads(profiles_dir / f"{u['profile']}.toml")
        reads_of = {u["unit_id"]: reads[u["profile"]] for u in server["units"]}
        tasks.append(poll_connection(server, reads_of, window, stats, writer, args.spread))
    stop = asyncio.Event()
    flusher = asyncio.create_task(writer.every_second(stop))
    # SIGTERM (the harness, when this poller cannot finish its window): figures so far.
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    polling = asyncio.gather(*tasks)
    await asyncio.wait([polling, asyncio.create_task(terminated.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if terminated.is_set():
        polling.cancel()
    else:
        # Alive 1.5 s after the window: the harness reads CPU and peak RSS of a running process.
        await asyncio.sleep(max(0.0, args.window_end + 1.5 - time.time()))
    stop.set()
    writer.flush()
    if writer.pending:
        await asyncio.wait(writer.pending, timeout=15)
    flusher.cancel()
    lateness = sorted(stats.lateness)

    def q(p):
        if not lateness:
            return 0.0
        return lateness[min(len(lateness), max(1, math.ceil(p * len(lateness)))) - 1] * 1e3

    Path(args.out).write_text(json.dumps({
        "polls": len(lateness), "requests": stats.requests, "requests_failed": stats.failed,
        "samples": stats.samples, "missed_slots": stats.missed,
        "lateness_p50_ms": q(0.50), "lateness_p99_ms": q(0.99),
        "lateness_max_ms": lateness[-1] * 1e3 if lateness else 0.0,
        "lines_written": stats.lines_written, "write_errors": stats.write_errors,
        "terminated": terminated.is_set(),
    }))


if __name__ == "__main__":
    asyncio.run(main())
