import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { waitReady } from './child-ready.js';
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
lo, hi, seed, deadline, call_timeout = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
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
            call(str(delays[i]).encode(), timeout=call_timeout)
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
  options: { requests: number; streams: number; delays: DelayDraw; deadlineS?: number; callTimeoutS?: number },
): Promise<RecordedRequests> {
  const { requests, streams, delays, deadlineS = 30, callTimeoutS = 10 } = options;
  const out = await ns.run(
    DEBIAN_PYTHON,
    [script('grpc_client.py', GRPC_CLIENT), host, String(port), String(requests), String(streams), String(delays.minMs), String(delays.maxMs), String(delays.seed), String(deadlineS), String(callTimeoutS)],
    (deadlineS + 30) * 1000,
  );
  return JSON.parse(out) as RecordedRequests;
}

/**
 * nginx (libnginx-mod-http-echo) serving `GET|POST /?d=SECONDS`: reads the request body (so
 * `Expect: 100-continue` gets its interim response), sleeps d, answers "ok". With `tls`, a
 * self-signed certificate made now with openssl, TLS 1.2 and 1.3 both allowed. Its access
 * log records `$request_time` (msec resolution) per request: another ground truth.
 */
export interface NginxServer {
  readonly child: ChildProcess;
  /** Each logged request's $request_time in microseconds (reads the access log now). */
  requestTimesUs(): number[];
}

export async function startNginx(ns: TestNetns, host: string, port: number, options: { tls: boolean }): Promise<NginxServer> {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-nginx-'));
  fs.chmodSync(prefix, 0o755);
  let ssl = '';
  if (options.tls) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kes-test', '-keyout', `${prefix}/key.pem`, '-out', `${prefix}/cert.pem`], { stdio: 'ignore' });
    ssl = `ssl_certificate ${prefix}/cert.pem; ssl_certificate_key ${prefix}/key.pem; ssl_protocols TLSv1.2 TLSv1.3;`;
  }
  const listen = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  fs.writeFileSync(
    `${prefix}/nginx.conf`,
    `load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
user root;
# one process: killing it (TestNetns.dispose) leaves no orphaned worker holding the test's pipes
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  log_format timing '$request_time';
  access_log ${prefix}/access.log timing;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  keepalive_requests 100000;
  server {
    listen ${listen}${options.tls ? ' ssl' : ''};
    ${ssl}
    location / { echo_read_request_body; echo_sleep $arg_d; echo ok; }
  }
}
`,
  );
  const child = ns.spawn('nginx', ['-p', prefix, '-c', `${prefix}/nginx.conf`, '-g', 'daemon off;']);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const until = Date.now() + 15_000;
  while (!fs.existsSync(`${prefix}/nginx.pid`)) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`nginx ${listen} in ${ns.name} did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    requestTimesUs: () =>
      fs
        .readFileSync(`${prefix}/access.log`, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => Math.round(Number(line) * 1e6)),
  };
}

const HTTP_CLIENT = String.raw`
import sys, time, json, random, socket, ssl
host, port, n, tls, conn_mode, expect = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6] == '1'
lo, hi, seed, deadline, alpn = float(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9]), float(sys.argv[10]), sys.argv[11]
pipeline = int(sys.argv[12])
rng = random.Random(seed)
# whole milliseconds: echo_sleep takes at most 3 decimals of a second
delays = [int(round(rng.uniform(lo, hi))) * 1000 for _ in range(n)]
ctx = None
if tls != 'none':
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if tls == '1.3' else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = v; ctx.maximum_version = v
    if alpn: ctx.set_alpn_protocols(alpn.split(','))
BODY = b"x" * 2000
def connect():
    s = socket.create_connection((host, port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(s) if ctx else s
def read_head(c, buf):
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d: raise RuntimeError("closed")
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]
def read_response(c):
    head, rest = read_head(c, b"")
    if b"chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            d = c.recv(65536)
            if not d: raise RuntimeError("closed")
            rest += d
    else:
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
        while len(rest) < length:
            rest += c.recv(65536)
    return head
def get(d):
    return ("GET /?d=%.3f HTTP/1.1\r\nHost: x\r\n\r\n" % (d / 1e6)).encode()
def request(c, d):
    path = "/?d=%.3f" % (d / 1e6)
    if expect:
        c.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (path, len(BODY))).encode())
        head, rest = read_head(c, b"")
        if not head.startswith(b"HTTP/1.1 100"): raise RuntimeError("no 100 Continue: %r" % head[:40])
        c.sendall(BODY)
    else:
        c.sendall(get(d))
    read_response(c)
lat = []; served = []; fails = 0; c = None
stop_at = time.monotonic() + deadline
# one request at a time, or (pipeline > 1) batches of GETs in one write, each request
# timed from the write to its own response
for i in range(0, n - n % pipeline, pipeline):
    if time.monotonic() > stop_at: break
    batch = delays[i:i + pipeline]; answered = 0
    try:
        if c is None: c = connect()
        t = time.perf_counter()
        if pipeline > 1:
            c.sendall(b"".join(get(d) for d in batch))
        for d in batch:
            if pipeline > 1: read_response(c)
            else: request(c, d)
            lat.append((time.perf_counter() - t) * 1e6); served.append(d); answered += 1
        if conn_mode == 'new': c.close(); c = None
    except Exception as e:
        print(repr(e), file=sys.stderr); fails += len(batch) - answered; c = None
if c is not None: c.close()
print(json.dumps({"latenciesUs": lat, "serviceUs": served, "failures": fails}))
`;

/** How the HTTP client speaks: cleartext or a pinned TLS version, one connection or one per request. */
export interface HttpClientOptions {
  readonly requests: number;
  readonly delays: DelayDraw;
  readonly tls: 'none' | '1.2' | '1.3';
  readonly connection: 'new' | 'keepalive';
  /** POST a 2000-byte body with `Expect: 100-continue`, sent after the interim response. */
  readonly expectContinue?: boolean;
  /** ALPN protocols offered (TLS), e.g. ['http/1.1'] or ['h2', 'http/1.1']. */
  readonly alpn?: readonly string[];
  /** Cleartext keep-alive GETs written this many at a time (HTTP/1 pipelining), each timed from the write to its own response. */
  readonly pipeline?: number;
  readonly deadlineS?: number;
}

/** Sequential HTTP/1.1 requests against startNginx, recording each (after any handshake: request sent -> response complete). */
export async function runHttpClient(ns: TestNetns, host: string, port: number, options: HttpClientOptions): Promise<RecordedRequests> {
  const { requests, delays, tls, connection, expectContinue = false, alpn = [], deadlineS = 30, pipeline = 1 } = options;
  const out = await ns.run(
    DEBIAN_PYTHON,
    [
      script('http_client.py', HTTP_CLIENT),
      host,
      String(port),
      String(requests),
      tls,
      connection,
      expectContinue ? '1' : '0',
      String(delays.minMs),
      String(delays.maxMs),
      String(delays.seed),
      String(deadlineS),
      alpn.join(','),
      String(pipeline),
    ],
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
