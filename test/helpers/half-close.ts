import type { ChildProcess } from 'node:child_process';
import { z } from 'zod';
import { waitReady } from './child-ready.js';
import type { TestNetns } from './netns.js';
import { DEBIAN_PYTHON } from './protocol-workloads.js';

/**
 * Clients that half-close right after their request (shutdown(SHUT_WR), as `nc -N` or an
 * HTTP/1.0 client may), against a server that answers each connection after a fixed
 * service time. With TCP_CORK the request's bytes and the FIN leave in one segment
 * (tcp_send_fin() marks the queued segment), so the server socket is already in CLOSE_WAIT
 * when sk_data_ready fires; without it the FIN follows on its own and is no request.
 */

const SERVER = `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept(); data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = c.recv(4096)
        if not chunk: break
        data += chunk
    time.sleep(float(sys.argv[2]) / 1000)
    c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"); c.close()
`;

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

/** Starts the server on 127.0.0.1:port of the namespace; resolves once it listens. */
export async function startHalfCloseServer(ns: TestNetns, port: number, serviceMs: number): Promise<ChildProcess> {
  const server = ns.spawn(DEBIAN_PYTHON, ['-c', SERVER, String(port), String(serviceMs)]);
  await waitReady(server, 'half-close server');
  return server;
}

/** Sequential requests, each on a new connection half-closed after the request; each one's
 * time from the send to the first response byte, in ms. */
export async function runHalfCloseClient(ns: TestNetns, port: number, requests: number, oneSegment: boolean): Promise<number[]> {
  const out = await ns.run(DEBIAN_PYTHON, ['-c', CLIENT, String(port), String(requests), oneSegment ? '1' : '0'], 60_000);
  return z.array(z.number()).parse(JSON.parse(out));
}
