#!/usr/bin/env python3
"""SMTP receiver for vigie's notification tests, built on aiosmtpd 1.4.6 (PyPI).

Usage:
    python3 tests/peers/smtp_receiver.py --port P --log FILE.jsonl

A real SMTP server (aiosmtpd's Controller, EHLO, no TLS, no authentication) on
127.0.0.1:P that accepts every message and appends it to FILE.jsonl as one JSON
object, flushed at once:

    {"time": 1717430000.1, "mail_from": "vigie@example.net",
     "rcpt_tos": ["amina@example.net"], "data": "<the whole message as received>",
     "subject": "...", "message_id": "<...>", "headers": {"x-...": "..."},
     "body": "<the text body, transfer encoding undone>"}

Once listening, prints "READY <port>" on stdout.  Exits on SIGTERM, SIGINT or
when stdin is closed (the test process holds it).
"""

import argparse
import email
import email.policy
import json
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Recorder:
    def __init__(self, path):
        self.log = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        try:
            body = parsed.get_body(preferencelist=("plain",)).get_content()
        except Exception as e:  # noqa: BLE001 - recorded for the test to see
            body = f"<unreadable body: {e}>"
        record = {
            "time": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw.decode("utf-8", errors="replace"),
            "subject": str(parsed.get("Subject", "")),
            "message_id": str(parsed.get("Message-ID", "")),
            "headers": {k.lower(): str(v) for k, v in parsed.items()},
            "body": body,
        }
        with self.lock:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    controller = Controller(Recorder(args.log), hostname="127.0.0.1", port=args.port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {args.port}", flush=True)
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
