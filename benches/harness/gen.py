#!/usr/bin/env python3
"""Writes the benchmark's sim.toml and vigie.toml for N devices (scripts/bench.sh).

Layout, as devices are found in the field: half of the devices answer on their own port
(Modbus TCP meters and PLCs, unit id 1), the other half sit behind RS-485 gateways of 10 unit
ids (1..10) each, one port per gateway. Every device is the profile bench-meter (10 points,
two reads). One vigie site per port. Ports are consecutive from --base-port. With --spread,
vigie.toml sets `[daemon] poll_spread = true` (each port polled at its own phase in the
second instead of all on the whole second).
"""

import argparse
from pathlib import Path

GATEWAY_UNITS = 10
PROFILE = "bench-meter"


def layout(devices):
    """[(site id, [unit ids])], one entry per port: direct devices first, then gateways."""
    direct = devices // 2
    behind = devices - direct
    ports = [(f"M{i:05d}", [1]) for i in range(direct)]
    for g in range(0, behind, GATEWAY_UNITS):
        units = list(range(1, min(GATEWAY_UNITS, behind - g) + 1))
        ports.append((f"G{g // GATEWAY_UNITS:05d}", units))
    return ports


def sim_toml(ports, base_port, profiles_dir):
    out = [f"profiles_dir = {str(profiles_dir)!r}\n"]
    for k, (site, units) in enumerate(ports):
        out.append(f'[[servers]]\nname = "{site}"\nlisten = "127.0.0.1:{base_port + k}"\n')
        out.append("units = [\n")
        for u in units:
            out.append(f'  {{ unit_id = {u}, profile = "{PROFILE}", site = "{site}", role = "wave" }},\n')
        out.append("]\n")
    return "".join(out)


def vigie_toml(ports, base_port, profiles_dir, data_dir, vm_url, api_port, spread=False):
    out = [
        f"[daemon]\nprofiles_dir = {str(profiles_dir)!r}\ndata_dir = {str(data_dir)!r}\n"
        f"poll_spread = {'true' if spread else 'false'}\n",
        f'[influxdb]\nurl = "{vm_url}"\napi = "v1"\ndatabase = "bench"\n'
        'batch_lines = 5000\nflush_interval = "1s"\n',
        f'[api]\nlisten = "127.0.0.1:{api_port}"\n',
    ]
    for k, (site, units) in enumerate(ports):
        out.append(f'[[sites]]\nid = "{site}"\nkind = "pumping_station"\ndevices = [\n')
        for u in units:
            out.append(
                f'  {{ id = "u{u}", profile = "{PROFILE}", address = "127.0.0.1:{base_port + k}", '
                f'unit_id = {u}, poll_interval = "1s", timeout = "500ms" }},\n'
            )
        out.append("]\n")
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--dir", type=Path, required=True, help="where the files go")
    ap.add_argument("--base-port", type=int, required=True)
    ap.add_argument("--profiles-dir", type=Path, required=True)
    ap.add_argument("--vm-url", required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--spread", action="store_true", help="poll_spread = true in vigie.toml")
    args = ap.parse_args()
    ports = layout(args.devices)
    profiles = args.profiles_dir.resolve()
    (args.dir / "sim.toml").write_text(sim_toml(ports, args.base_port, profiles))
    (args.dir / "vigie.toml").write_text(
        vigie_toml(ports, args.base_port, profiles, args.dir / "var", args.vm_url, args.api_port,
                   args.spread)
    )
    print(len(ports))


if __name__ == "__main__":
    main()
