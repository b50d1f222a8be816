import type { ChildProcess } from 'node:child_process';
import { z } from 'zod';
import { waitReady } from './child-ready.js';
import type { TestNetns } from './netns.js';
import { DEBIAN_PYTHON } from './protocol-workloads.js';

/**
 * Clients that half-close right after their request (shutdown(SHUT_WR), as `nc -N` or an
 * HTTP/1.0 client may), against a server that answers each connection after a fixed
 * service time (slow-accept-server.py). With TCP_CORK the request's bytes and the FIN leave
 * in one segment (tcp_send_fin() marks the queued segment), so the server socket is already
 * in CLOSE_WAIT when sk_data_ready fires; without it the FIN follows on its own and is no
 * request.
 */

const CLIENT = `
import json, socket, sys, time
port, requests, cork = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
d = []
for i in range(requests):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    if cork: c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    t0 = time.monotonic(); c.sendall(b"GET / HTTP/1.0\\r\\nHost: t\\r\\n\\r\\n"); c.shutdown(socket.SHUT_WR)
    c.recv(100); d.append((time.monotonic() - t0) * 1000)
    while c.recv(4096): pass
    c.close()
print(json.dumps(d))
`;

/** The server: test/helpers/slow-accept-server.py (one connection at a time: read the
 * request, wait serviceMs, answer, wait lingerMs reading nothing, close) on 127.0.0.1:port
 * of the namespace, for at most 120 s; resolves once it listens. */
export async function startHalfCloseServer(ns: TestNetns, port: number, serviceMs: number, lingerMs = 0): Promise<ChildProcess> {
  const server = ns.spawn(DEBIAN_PYTHON, ['test/helpers/slow-accept-server.py', '127.0.0.1', String(port), '16', String(serviceMs), '120', String(lingerMs)]);
  await waitReady(server, 'half-close server');
  return server;
}

/** Sequential requests, each on a new connection half-closed after the request; each one's
 * time from the send to the first response byte, in ms. */
export function runHalfCloseClient(ns: TestNetns, port: number, requests: number, oneSegment: boolean): Promise<number[]> {
  return runClient(ns, CLIENT, [port, requests, oneSegment ? 1 : 0]);
}

const UNREAD_BODY_CLIENT = `
import json, socket, sys, time
port, requests, body_after_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
d = []
for i in range(requests):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic(); c.sendall(b"POST / HTTP/1.1\\r\\nHost: t\\r\\nContent-Length: 64\\r\\n\\r\\n")
    time.sleep(body_after_ms / 1000); c.sendall(b"x" * 64)
    c.recv(100); d.append((time.monotonic() - t0) * 1000)
    c.shutdown(socket.SHUT_WR)
    try:
        while c.recv(4096): pass
    except ConnectionResetError:
        pass
    c.close()
print(json.dumps(d))
`;

/** Sequential POSTs, each on a new connection: the headers, then after bodyAfterMs the
 * 64-byte body (which slow-accept-server.py never reads), then the client's FIN once the
 * answer came; each one's time from the headers' send to the first response byte, in ms. */
export function runUnreadBodyClient(ns: TestNetns, port: number, requests: number, bodyAfterMs: number): Promise<number[]> {
  return runClient(ns, UNREAD_BODY_CLIENT, [port, requests, bodyAfterMs]);
}

/** Runs one of the python clients above in the namespace; its printed durations in ms. */
async function runClient(ns: TestNetns, script: string, args: readonly number[]): Promise<number[]> {
  const out = await ns.run(DEBIAN_PYTHON, ['-c', script, ...args.map(String)], 60_000);
  return z.array(z.number()).parse(JSON.parse(out));
}
