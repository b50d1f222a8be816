import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { TestNetns } from './netns.js';

/**
 * Real servers and recording clients for protocol-aware timing (bpf/protocol_framing.bpf.c),
 * shaped for reuse by the accuracy tests and the accuracy bench: every client records each
 * request it completed (its latency in microseconds), every server says which service delay
 * it drew per request, so a caller compares the kernel's histogram with ground truth that is
 * right for variable delays. Every run is bounded in requests and time.
 *
 * gRPC: python3-grpcio server and client (a generic unary method, no generated code); the
 * client chooses each request's service delay from a seeded uniform draw and sends it, the
 * server sleeps that long.
 */

/** What a recording client returns: one entry per completed request. */
export interface RecordedRequests {
  /** Client view: before the call -> response complete, microseconds. */
  readonly latenciesUs: number[];
  /** The service delay the server applied to each request, microseconds (same order). */
  readonly serviceUs: number[];
  /** Requests that failed (not in the arrays above). */
  readonly failures: number;
}

/** A uniform draw of service delays, seeded so runs compare. */
export interface DelayDraw {
  readonly minMs: number;
  readonly maxMs: number;
  readonly seed: number;
}

/** Debian's python3, where python3-grpcio is installed (PATH may name another). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

let dir: string | undefined;
function script(name: string, text: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kes-proto-'));
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  return file;
}

/** Resolves once the child prints its first line; rejects when it exits first or in 15 s. */
export function waitReady(child: ChildProcess, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 15 s`)), 15_000);
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}: ${err}`));
    });
  });
}

const GRPC_SERVER = String.raw`
import sys, time, grpc
from concurrent import futures
host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def sleep(request, context):
    time.sleep(int(request) / 1e6)
    return b"ok"
handler = grpc.method_handlers_generic_handler("kes.Bench", {
    "Sleep": grpc.unary_unary_rpc_method_handler(sleep, request_deserializer=None, response_serializer=None)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers), handlers=[handler])
server.add_insecure_port("%s:%d" % (host if ':' not in host else '[%s]' % host, port))
server.start()
print("ready", flush=True)
server.wait_for_termination()
`;

const GRPC_CLIENT = String.raw`
import sys, time, json, threading, random, grpc
host, port, n, streams = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lo, hi, seed, deadline = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
rng = random.Random(seed)
delays = [int(rng.uniform(lo, hi) * 1000) for _ in range(n)]
target = "%s:%d" % (host if ':' not in host else '[%s]' % host, port)
# one channel = one HTTP/2 connection: the streams share it
channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
grpc.channel_ready_future(channel).result(timeout=10)
call = channel.unary_unary("/kes.Bench/Sleep")
lat = [None] * n; fails = [0]; lock = threading.Lock(); nxt = [0]
stop_at = time.monotonic() + deadline
def worker():
    while True:
        with lock:
            i = nxt[0]; nxt[0] += 1
        if i >= n or time.monotonic() > stop_at: return
        t = time.perf_counter()
        try:
            call(str(delays[i]).encode(), timeout=10)
            lat[i] = (time.perf_counter() - t) * 1e6
        except Exception:
            with lock: fails[0] += 1
ts = [threading.Thread(target=worker) for _ in range(streams)]
[t.start() for t in ts]; [t.join() for t in ts]
channel.close()
done = [i for i in range(n) if lat[i] is not None]
print(json.dumps({"latenciesUs": [lat[i] for i in done], "serviceUs": [delays[i] for i in done], "failures": fails[0]}))
`;

/** A python3-grpcio server with one unary method that sleeps the delay the request names. */
export async function startGrpcServer(ns: TestNetns, host: string, port: number, workers = 32): Promise<ChildProcess> {
  const child = ns.spawn(DEBIAN_PYTHON, [script('grpc_server.py', GRPC_SERVER), host, String(port), String(workers)]);
  await waitReady(child, `gRPC server ${host}:${port} in ${ns.name}`);
  return child;
}

/**
 * `requests` unary calls over one channel (one HTTP/2 connection), `streams` at a time,
 * each with a service delay drawn from `delays`; bounded by `deadlineS`.
 */
export async function runGrpcClient(
  ns: TestNetns,
  host: string,
  port: number,
  options: { requests: number; streams: number; delays: DelayDraw; deadlineS?: number },
): Promise<RecordedRequests> {
  const { requests, streams, delays, deadlineS = 30 } = options;
  const out = await ns.run(
    DEBIAN_PYTHON,
    [script('grpc_client.py', GRPC_CLIENT), host, String(port), String(requests), String(streams), String(delays.minMs), String(delays.maxMs), String(delays.seed), String(deadlineS)],
    (deadlineS + 30) * 1000,
  );
  return JSON.parse(out) as RecordedRequests;
}

/** Nearest-rank quantile of raw values. */
export function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Relative error of `measured` against `truth`, in percent. */
export function errorPercent(measured: number, truth: number): number {
  return (100 * (measured - truth)) / truth;
}
