import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { TestNetns } from './netns.js';
import { waitReady } from './child-ready.js';

/**
 * Tiny real servers and clients for the kernel tests, as Python scripts run inside test
 * network namespaces (curl is not installed; python3 is). Servers speak enough HTTP/1.1
 * for keep-alive; every client is bounded in requests and time.
 */

const SERVER = String.raw`
import socket, sys, time, threading
host, port, delay, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(128)
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            time.sleep(delay)
            c.sendall(RESP)
            if mode == 'close': break
    finally:
        c.close()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    if mode == 'threaded': threading.Thread(target=serve, args=(c,), daemon=True).start()
    else: serve(c)
`;

/*
 * Each latency twice: "app" = after send() to after recv() returns (includes the client's
 * own wake-up delay), "socket" = before send() to the kernel receive timestamp of the
 * first response bytes (SO_TIMESTAMPNS): what the client felt at its socket, without its
 * own scheduling noise, which on 2 shared cores can add tens of ms to a tail.
 */
const CLIENT = String.raw`
import socket, sys, time, json, threading, struct
host, port, n, conc, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
SO_TIMESTAMPNS = 35
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
app = []; sock = []; lock = threading.Lock()
def connect():
    c = socket.create_connection((host, port))
    c.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return c
def recv_resp(c):
    buf = b""; first_ns = None
    while not buf.endswith(b"ok"):
        d, anc, _, _ = c.recvmsg(65536, 256)
        if not d: raise RuntimeError("closed")
        for level, kind, data in anc:
            if first_ns is None and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", data[:16]); first_ns = sec * 1000000000 + nsec
        buf += d
    return first_ns
def worker():
    c = None
    for _ in range(n):
        if mode == 'close':
            t_ns = time.time_ns(); t = time.perf_counter()
            c = connect(); c.sendall(REQ); rx = recv_resp(c); c.close()
        else:
            if c is None: c = connect()
            t_ns = time.time_ns(); t = time.perf_counter()
            c.sendall(REQ); rx = recv_resp(c)
        a = (time.perf_counter() - t) * 1e6
        with lock:
            app.append(a); sock.append((rx - t_ns) / 1000 if rx else a)
    if c is not None and mode != 'close': c.close()
ts = [threading.Thread(target=worker) for _ in range(conc)]
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"app": app, "socket": sock}))
`;

let dir: string | undefined;
function script(name: string, text: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kes-kernel-'));
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  return file;
}

export type ServerMode = 'threaded' | 'serial' | 'close';

/** Starts an HTTP-ish server inside `ns`; resolves once it listens. */
export async function startServer(ns: TestNetns, host: string, port: number, serviceMs: number, mode: ServerMode): Promise<ChildProcess> {
  const child = ns.spawn('python3', [script('server.py', SERVER), host, String(port), String(serviceMs / 1000), mode]);
  await waitReady(child, `server ${host}:${port} in ${ns.name}`);
  return child;
}

export interface ClientLatencies {
  /** send() -> recv() returned, microseconds. */
  readonly app: number[];
  /** before send() -> kernel receive timestamp of the response, microseconds. */
  readonly socket: number[];
}

/**
 * Runs `concurrency` clients inside `ns`, each sending `requests` requests (keep-alive or
 * a new connection per request); returns every client-measured latency.
 */
export async function runClients(
  ns: TestNetns,
  host: string,
  port: number,
  requests: number,
  concurrency: number,
  mode: 'keepalive' | 'close',
): Promise<ClientLatencies> {
  const out = await ns.run('python3', [script('client.py', CLIENT), host, String(port), String(requests), String(concurrency), mode], 60_000);
  return JSON.parse(out) as ClientLatencies;
}

/** Nearest-rank quantile of raw values. */
export function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
