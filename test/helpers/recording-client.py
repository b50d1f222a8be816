#!/usr/bin/env python3
"""A closed-loop HTTP/1 client that records every request: CONCURRENCY threads, each opening
a new connection per request (connect, send, read to close), until TOTAL requests were
started or MAX_SECONDS passed. Prints one JSON object: completed and failed counts and, per
completed request, its duration in ms from connect() to the response's end (durations_ms:
what a client sees, including SYN retransmissions when the server's accept queue
overflows) and from just before the request's send to the response's end (send_to_end_ms:
the span a server-side timing starting at the request's arrival can see).

usage: recording-client.py HOST PORT CONCURRENCY TOTAL MAX_SECONDS
"""
import json
import socket
import sys
import threading
import time

host, port, concurrency, total, max_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + max_seconds
lock = threading.Lock()
started = 0
durations_ms = []
send_to_end_ms = []
failures = {}
request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


def take():
    global started
    with lock:
        if started >= total or time.monotonic() >= deadline:
            return False
        started += 1
        return True


def worker():
    while take():
        t0 = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(1.0, deadline - t0)) as s:
                sent_at = time.monotonic()
                s.sendall(request)
                while s.recv(4096):
                    pass
            done = time.monotonic()
            with lock:
                durations_ms.append((done - t0) * 1000)
                send_to_end_ms.append((done - sent_at) * 1000)
        except OSError as err:
            with lock:
                key = type(err).__name__
                failures[key] = failures.get(key, 0) + 1


threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
begin = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=max(0.0, deadline - time.monotonic()) + 2)
print(json.dumps({"completed": len(durations_ms), "failed": failures, "seconds": time.monotonic() - begin, "durations_ms": durations_ms, "send_to_end_ms": send_to_end_ms}))
