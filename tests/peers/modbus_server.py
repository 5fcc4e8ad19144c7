#!/usr/bin/env python3
"""Modbus TCP peer for vigie's integration tests, built on pymodbus 3.8.6.

Usage:
    python3 tests/peers/modbus_server.py --port P --image FILE.json

The image (all keys optional):

    {
      "units": {
        "1": {
          "holding":  {"0": 17226, "1": 32768, "10": [1, 2, 3]},
          "input":    {"0": 17254},
          "coils":    {"3": true},
          "discrete": {"7": true, "8": [true, false, true]}
        }
      },
      "silent_units": [3],
      "delay_ms": {"2": 300},
      "exception_units": {"4": 11}
    }

* Addresses are 0-based PDU addresses (what goes on the wire), from 0 to 65535.
  A list value fills consecutive addresses starting at the key.
  Unset addresses read 0 / false.  Registers are u16, bits are booleans.
* A unit listed in "units" answers every read and write on the whole address
  range (writes are stored and read back).
* "silent_units": unit ids that never answer (a dead device behind a gateway):
  the request is dropped, the client times out, the connection stays open.
* "delay_ms": per-unit delay before the reply is sent.
* "exception_units": unit id -> Modbus exception code returned to every request
  of that unit (e.g. 11 = gateway target device failed to respond).
* "unmapped": unit id -> table -> [[first, last], ...]: a read overlapping those
  addresses gets exception 2 (illegal data address), as a device whose map has
  holes answers a read that spans one.
* "short_units": unit ids whose register replies hold one register fewer than
  asked (a malformed reply).
* "counting_units": unit ids that serve a fresh value at every read: each read of
  holding registers (function 03) first adds 1 to the unit's count of served reads and
  stores it as a u32, high word first, in holding registers 0-1, so the reply carries
  1, 2, 3 ... in the order served. Input registers 0-1 hold the same count, so a client
  can read how many holding reads were served without adding one.
* Any other unit id gets exception 0x0B (gateway target device failed to
  respond), as a Modbus TCP gateway does.

Requests on one connection are answered in order, one at a time, like a
serial gateway: a delayed or silent unit holds up nothing but its own request
(a silent request is dropped at once), a delayed one delays what follows it.

Once listening, prints "READY <port>" on stdout (with --port 0 the port the
system chose).  Exits on SIGTERM, SIGINT or when stdin is closed.

While running, each line read on stdin is a JSON command, answered on stdout
by "OK <n>" (n counts commands from 1) or "ERR <n> <message>":

    {"units": {...}}            merge values into units (creating units)
    {"silent_units": [...]}     replace the set of silent units
    {"delay_ms": {...}}         replace the delays
    {"exception_units": {...}}  replace the exception units
    {"unmapped": {...}}         replace the unmapped ranges
    {"disconnect": true}        close every client connection

pymodbus 3.8.6 notes (why this is not a stock ModbusSlaveContext server):
* ModbusSlaveContext adds 1 to every address (no zero_mode in 3.8.6), and
  sparse blocks only answer addresses that were set: a custom 0-based context
  is used instead.
* ServerRequestHandler reads `self.last_pdu` again after awaiting the
  datastore, so a delayed reply gets the transaction id of whatever request
  arrived meanwhile; it also handles only one frame per TCP segment and sends
  gateway exceptions with function code 0x80. The connection handler below
  replaces its request loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading

import pymodbus
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseSlaveContext
from pymodbus.pdu.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

ADDRESS_SPACE = 65536
TABLES = {"holding": "h", "input": "i", "coils": "c", "discrete": "d"}
GATEWAY_NO_RESPONSE = 0x0B


class ZeroBasedContext(ModbusBaseSlaveContext):
    """One unit: four sparse tables addressed 0..65535, unset entries read 0."""

    def __init__(self):
        self.store = {"h": {}, "i": {}, "c": {}, "d": {}}

    def reset(self):
        for table in self.store.values():
            table.clear()

    def validate(self, fc_as_hex, address, count=1):
        return 0 <= address and count >= 1 and address + count <= ADDRESS_SPACE

    def getValues(self, fc_as_hex, address, count=1):
        kind = self.decode(fc_as_hex)
        table = self.store[kind]
        default = False if kind in ("c", "d") else 0
        return [table.get(a, default) for a in range(address, address + count)]

    def setValues(self, fc_as_hex, address, values):
        kind = self.decode(fc_as_hex)
        table = self.store[kind]
        for offset, value in enumerate(values):
            table[address + offset] = bool(value) if kind in ("c", "d") else int(value)


def load_units(context: ModbusServerContext, units: dict) -> None:
    for unit_key, tables in units.items():
        unit = int(unit_key)
        if not 0 <= unit <= 255:
            raise ValueError(f"unit id out of range: {unit}")
        # pymodbus's context refuses to store ids above 247 (serial-line addresses), but its
        # lookups take any id; a Schneider IFE answers on unit 255, so store them directly.
        if unit not in context:
            context._slaves[unit] = ZeroBasedContext()
        slave = context[unit]
        for table_name, values in tables.items():
            if table_name not in TABLES:
                raise ValueError(f"unknown table {table_name!r} (expected one of {sorted(TABLES)})")
            kind = TABLES[table_name]
            for addr_key, value in values.items():
                start = int(addr_key)
                items = value if isinstance(value, list) else [value]
                for offset, item in enumerate(items):
                    address = start + offset
                    if not 0 <= address < ADDRESS_SPACE:
                        raise ValueError(f"address out of range: {address}")
                    if kind in ("c", "d"):
                        if not isinstance(item, (bool, int)) or item not in (0, 1):
                            raise ValueError(f"bit value must be a boolean: {item!r}")
                        slave.store[kind][address] = bool(item)
                    else:
                        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 0xFFFF:
                            raise ValueError(f"register value must be a u16: {item!r}")
                        slave.store[kind][address] = item


class Behaviour:
    """Per-unit behaviour that tests may change while the server runs."""

    def __init__(self):
        self.silent: set[int] = set()
        self.delay_s: dict[int, float] = {}
        self.exceptions: dict[int, int] = {}
        # units whose register replies come one register short (a broken device or gateway)
        self.short: set[int] = set()
        # unit -> table letter -> [(first, last)] addresses the unit does not have
        self.unmapped: dict[int, dict[str, list[tuple[int, int]]]] = {}
        # units whose holding reads are counted; unit -> reads served so far
        self.counting: dict[int, int] = {}

    def apply(self, image: dict) -> None:
        if "silent_units" in image:
            self.silent = {int(u) for u in image["silent_units"]}
        if "delay_ms" in image:
            self.delay_s = {int(u): float(ms) / 1000.0 for u, ms in image["delay_ms"].items()}
        if "exception_units" in image:
            self.exceptions = {int(u): int(code) for u, code in image["exception_units"].items()}
        if "short_units" in image:
            self.short = {int(u) for u in image["short_units"]}
        if "counting_units" in image:
            self.counting = {int(u): self.counting.get(int(u), 0) for u in image["counting_units"]}
        if "unmapped" in image:
            self.unmapped = {
                int(u): {TABLES[t]: [(int(a), int(b)) for a, b in ranges] for t, ranges in tables.items()}
                for u, tables in image["unmapped"].items()
            }

    def refuses(self, unit: int, function_code: int, address: int, count: int) -> bool:
        """True when a read overlaps addresses the unit does not have (exception 2)."""
        kind = {1: "c", 2: "d", 3: "h", 4: "i"}.get(function_code)
        ranges = self.unmapped.get(unit, {}).get(kind, [])
        return any(address <= last and first < address + count for first, last in ranges)


class ConnectionHandler(ServerRequestHandler):
    """Answers the requests of one connection in order, each with its own PDU."""

    def __init__(self, owner, behaviour: Behaviour):
        super().__init__(owner, None, None, None)
        self.behaviour = behaviour
        self.queue: asyncio.Queue = asyncio.Queue()
        self.worker: asyncio.Task | None = None

    def callback_connected(self) -> None:
        super().callback_connected()
        self.worker = asyncio.get_running_loop().create_task(self.work())

    def callback_disconnected(self, call_exc: Exception | None) -> None:
        super().callback_disconnected(call_exc)
        if self.worker:
            self.worker.cancel()

    def callback_data(self, data: bytes, addr: tuple | None = None) -> int:
        used = 0
        while True:
            length, dev_id, tid, frame = self.framer.decode(data[used:])
            if not length:
                return used
            used += length
            if not frame:
                continue
            pdu = self.framer.decoder.decode(frame)
            if pdu is None:
                reply = ExceptionResponse(frame[0], ExceptionResponse.ILLEGAL_FUNCTION)
                reply.dev_id, reply.transaction_id = dev_id, tid
                self.queue.put_nowait(("reply", reply))
                continue
            pdu.dev_id, pdu.transaction_id = dev_id, tid
            self.queue.put_nowait(("request", pdu))

    async def work(self) -> None:
        while True:
            kind, pdu = await self.queue.get()
            if kind == "reply":
                self.pdu_send(pdu)
                continue
            reply = await self.answer(pdu)
            if reply is not None:
                reply.transaction_id = pdu.transaction_id
                reply.dev_id = pdu.dev_id
                self.pdu_send(reply)

    async def answer(self, pdu):
        unit = pdu.dev_id
        if unit in self.behaviour.silent:
            return None
        delay = self.behaviour.delay_s.get(unit, 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if unit in self.behaviour.exceptions:
            return ExceptionResponse(pdu.function_code, self.behaviour.exceptions[unit])
        if unit not in self.server.context:
            return ExceptionResponse(pdu.function_code, GATEWAY_NO_RESPONSE)
        if self.behaviour.refuses(unit, pdu.function_code, getattr(pdu, "address", 0), getattr(pdu, "count", 1)):
            return ExceptionResponse(pdu.function_code, ExceptionResponse.ILLEGAL_ADDRESS)
        if unit in self.behaviour.counting and pdu.function_code == 3:
            served = self.behaviour.counting[unit] + 1
            self.behaviour.counting[unit] = served
            words = [(served >> 16) & 0xFFFF, served & 0xFFFF]
            self.server.context[unit].store["h"].update({0: words[0], 1: words[1]})
            self.server.context[unit].store["i"].update({0: words[0], 1: words[1]})
        try:
            reply = await pdu.update_datastore(self.server.context[unit])
            if unit in self.behaviour.short and getattr(reply, "registers", None):
                reply.registers = reply.registers[:-1]
            return reply
        except Exception as exc:  # noqa: BLE001 - report, answer like a device would
            print(f"datastore error: {exc!r}", file=sys.stderr, flush=True)
            return ExceptionResponse(pdu.function_code, ExceptionResponse.SLAVE_FAILURE)


class PeerServer(ModbusTcpServer):
    def __init__(self, context, behaviour: Behaviour, address):
        super().__init__(context, address=address)
        self.behaviour = behaviour

    def callback_new_connection(self):
        return ConnectionHandler(self, self.behaviour)


def watch_stdin(loop: asyncio.AbstractEventLoop, commands: asyncio.Queue, stop: asyncio.Event) -> None:
    """Thread: forward stdin lines as commands, stop the server at EOF."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(commands.put_nowait, line)
    loop.call_soon_threadsafe(stop.set)


async def run_commands(server: PeerServer, context, behaviour: Behaviour, commands: asyncio.Queue) -> None:
    number = 0
    while True:
        line = await commands.get()
        if not line.strip():
            continue
        number += 1
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise ValueError("a command is a JSON object")
            load_units(context, command.get("units", {}))
            behaviour.apply(command)
            if command.get("disconnect"):
                for connection in list(server.active_connections.values()):
                    connection.close()
            print(f"OK {number}", flush=True)
        except Exception as exc:  # noqa: BLE001 - tell the test, keep serving
            print(f"ERR {number} {exc}", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--image", required=True, help="JSON image file")
    args = parser.parse_args()

    if pymodbus.__version__ != "3.8.6":
        print(f"warning: written for pymodbus 3.8.6, running {pymodbus.__version__}", file=sys.stderr)

    with open(args.image, encoding="utf-8") as f:
        image = json.load(f)
    context = ModbusServerContext(slaves={}, single=False)
    load_units(context, image.get("units", {}))
    behaviour = Behaviour()
    behaviour.apply(image)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    server = PeerServer(context, behaviour, (args.host, args.port))
    # pymodbus' serve_forever() only logs a failed bind: listen() tells.
    if not await server.listen():
        print(f"cannot listen on {args.host}:{args.port}", file=sys.stderr, flush=True)
        return 1
    sockets = getattr(server.transport, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else args.port
    print(f"READY {port}", flush=True)

    commands: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=watch_stdin, args=(loop, commands, stop), daemon=True).start()
    command_task = loop.create_task(run_commands(server, context, behaviour, commands))

    await stop.wait()
    command_task.cancel()
    await server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
