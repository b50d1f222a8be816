import type { TestNetns } from './netns.js';

/**
 * The two sides of a holdAtZero trial as plain processes with one shared clock
 * (CLOCK_MONOTONIC: Python's time.monotonic() and Node's process.hrtime agree): N clients
 * in the client namespace all call connect() at T0, and a server on the host starts
 * listening at T0 + delay and answers each connection with one byte. Each client reports
 * when connect() returned and when the first response byte arrived, relative to T0.
 */

const CLIENTS_PY = String.raw`
import json, socket, sys, threading, time
host, port, n, t0, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
out = [None] * n
def one(i):
    s = socket.socket()
    s.settimeout(timeout)
    while time.monotonic() < t0: time.sleep(0.0005)
    start = time.monotonic()
    try:
        s.connect((host, port))
        connected = time.monotonic() - t0
        s.recv(1)
        out[i] = {"start": start - t0, "connect": connected, "response": time.monotonic() - t0}
    except OSError as e:
        out[i] = {"start": start - t0, "error": e.strerror or str(e), "errno": e.errno or 0, "at": time.monotonic() - t0}
    finally:
        s.close()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
`;

const SERVER_PY = String.raw`
import socket, sys, time
host, port, n, at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
while time.monotonic() < at: time.sleep(0.0005)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(64)
print(f"listening {time.monotonic():.6f}", flush=True)
for _ in range(n):
    c, _ = s.accept(); c.sendall(b"x"); c.close()
`;

export interface ClientResult {
  readonly start: number;
  readonly connect?: number;
  readonly response?: number;
  readonly error?: string;
  readonly errno?: number;
  readonly at?: number;
}

/** CLOCK_MONOTONIC now, in seconds (the clock Python's time.monotonic() reads). */
export function monotonicSeconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Runs `n` concurrent clients in `ns` connecting to host:port at monotonic time t0. */
export async function runClients(ns: TestNetns, host: string, port: number, n: number, t0: number, timeoutS = 40): Promise<ClientResult[]> {
  const out = await ns.run('python3', ['-c', CLIENTS_PY, host, String(port), String(n), t0.toFixed(6), String(timeoutS)], (timeoutS + 20) * 1000);
  return JSON.parse(out) as ClientResult[];
}

/** Arguments of `python3 -c SERVER` listening on host:port at monotonic time `at` for n connections. */
export function serverArgs(host: string, port: number, n: number, at: number): string[] {
  return ['-c', SERVER_PY, host, String(port), String(n), at.toFixed(6)];
}

/** Seconds after the first SYN at which the client's TCP retransmits it. */
export function synRetryTimes(linearTimeouts: number, count = 10): number[] {
  const times: number[] = [];
  let at = 0;
  let rto = 1;
  for (let i = 0; i < count; i++) {
    at += rto;
    times.push(at);
    if (i >= linearTimeouts) rto *= 2;
  }
  return times;
}
