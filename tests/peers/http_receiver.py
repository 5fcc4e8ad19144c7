#!/usr/bin/env python3
"""HTTP receiver for vigie's notification tests (webhooks, SMS gateway): standard library only.

Usage:
    python3 tests/peers/http_receiver.py --port P --log FILE.jsonl [--fail-first N]
        [--fail-status CODE] [--reject PREFIX=CODE ...] [--reject-body TEXT=CODE ...]
        [--check-idempotency]

Answers every request (any method, any path) with 200 "ok", except:
  - with --check-idempotency, a request whose Idempotency-Key was seen before
    with another body, answered 422 "idempotency key reused with another body"
    (as the IETF Idempotency-Key draft has a server do); the first body seen
    with a key, whatever its answer, is the one the key denotes;
  - the first N requests (of those not rejected), answered CODE (default 503)
    "try later" (a receiver that is overloaded at first; 429 for one that
    rate-limits);
  - requests whose path starts with PREFIX, always answered CODE with a reply of
    "rejected: " and 300 "x" (a receiver that refuses the request, with a long
    explanation);
  - requests whose body contains TEXT, likewise (a receiver that refuses some
    content, e.g. a CRM refusing an event it cannot read).
Each request is appended to FILE.jsonl as one JSON object, flushed at once:

    {"time": 1717430000.123, "method": "POST", "path": "/hook?x=1",
     "headers": {"content-type": "application/json", ...},   (names in lower case)
     "body": "...", "status": 200}

Once listening, prints "READY <port>" on stdout (with --port 0 the port the
system chose).  Exits on SIGTERM, SIGINT or when stdin is closed (the test
process holds it), so that it never outlives its test.
"""

import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--reject", action="append", default=[])
    parser.add_argument("--reject-body", action="append", default=[])
    parser.add_argument("--check-idempotency", action="store_true")
    args = parser.parse_args()
    rejects = []
    for r in args.reject:
        prefix, _, code = r.rpartition("=")
        rejects.append((prefix, int(code)))
    body_rejects = []
    for r in args.reject_body:
        text, _, code = r.rpartition("=")
        body_rejects.append((text.encode("utf-8"), int(code)))

    lock = threading.Lock()
    state = {"seen": 0}
    bodies = {}  # Idempotency-Key -> the first body seen with it
    log = open(args.log, "a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            key = self.headers.get("Idempotency-Key")
            with lock:
                conflict = False
                if args.check_idempotency and key is not None:
                    conflict = bodies.setdefault(key, body) != body
                rejected = [c for p, c in rejects if self.path.startswith(p)]
                rejected += [c for t, c in body_rejects if t in body]
                if conflict:
                    status = 422
                elif rejected:
                    status = rejected[0]
                else:
                    state["seen"] += 1
                    status = args.fail_status if state["seen"] <= args.fail_first else 200
                record = {
                    "time": time.time(),
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", errors="replace"),
                    "status": status,
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
            if status == 200:
                reply = b"ok"
            elif conflict:
                reply = b"idempotency key reused with another body"
            elif rejected:
                reply = b"rejected: " + b"x" * 300
            else:
                reply = b"try later"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        def log_message(self, fmt, *a):
            sys.stderr.write("http_receiver: " + (fmt % a) + "\n")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()
    log.close()


if __name__ == "__main__":
    main()
