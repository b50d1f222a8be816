#!/usr/bin/env python3
"""An HTTP/1 server that accepts one connection at a time: listen(BACKLOG), then per
connection accept, read the request, wait SERVICE_MS, answer, close. Its accept rate is
1 / SERVICE_MS, so a client offering more than that overflows the accept queue (what the
listen-queue overflow test and the accuracy bench drive). Prints "listening <port>" once
ready; stops after MAX_SECONDS or on SIGTERM. With LINGER_MS, it waits that long after
each answer before it closes, reading nothing more (so a client's later bytes and FIN reach
a socket that still holds what it did not read).

usage: slow-accept-server.py HOST PORT BACKLOG SERVICE_MS MAX_SECONDS [LINGER_MS]
"""
import socket
import sys
import time

host, port, backlog, service_ms, max_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
linger_ms = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
family = socket.AF_INET6 if ':' in host else socket.AF_INET
listener = socket.socket(family, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((host, port))
listener.listen(backlog)
listener.settimeout(0.5)
print(f"listening {listener.getsockname()[1]}", flush=True)
deadline = time.monotonic() + max_seconds
body = b"ok"
response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" + body
while time.monotonic() < deadline:
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        continue
    try:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        if data:
            time.sleep(service_ms / 1000)
            conn.sendall(response)
            if linger_ms > 0:
                time.sleep(linger_ms / 1000)
    except OSError:
        pass
    finally:
        conn.close()
