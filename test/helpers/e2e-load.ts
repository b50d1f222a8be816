import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';

/**
 * Workloads with known figures for the end-to-end tests, as small Python programs (run in
 * the host netns or inside a test netns): a threaded keep-alive HTTP-ish server whose
 * service time the client chooses per request (`GET /?d=MS`), a paced load generator
 * with phases (rate, service time, seconds) that prints when each phase starts, and a
 * paced generator of refused connection attempts. Every generator is bounded in time and
 * count; all traffic goes to the address it is given (loopback in these tests).
 */

const SERVER = String.raw`
import socket, sys, time, threading
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(256)
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            delay = 0.0
            line = d.split(b"\r\n", 1)[0]
            i = line.find(b"?d=")
            if i >= 0:
                delay = float(line[i+3:].split(b" ", 1)[0]) / 1000.0
            if delay > 0: time.sleep(delay)
            c.sendall(RESP)
    except OSError:
        pass
    finally:
        c.close()
print("ready %d" % s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

// Phases "rate:delayMs:seconds,..."; `workers` keep-alive connections share each phase's
// rate (worker i sends at its own slots of the schedule); falls back to closed loop when
// the server is slower than the schedule. Prints "phase N T_MS" at each phase start and a
// JSON summary at the end (client-measured latency per phase: p95 and mean, ms).
const LOAD = String.raw`
import socket, sys, time, json, threading
host, port, phases, workers = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
phases = [tuple(float(x) for x in p.split(":")) for p in phases.split(",")]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
last = [0.0]; done = [0] * len(phases); lat = [[] for _ in phases]; errors = [0]; lock = threading.Lock()
def recv_resp(c):
    buf = b""
    while not buf.endswith(b"ok"):
        d = c.recv(65536)
        if not d: raise RuntimeError("closed")
        buf += d
conns = [None] * workers
def worker(i, pi, start, rate, delay, secs):
    n = int(rate * secs)
    k = i
    while k < n:
        at = start + k / rate
        now = time.time()
        if at > now: time.sleep(at - now)
        if time.time() > start + secs + 2: break
        try:
            if conns[i] is None:
                conns[i] = socket.create_connection((host, port), timeout=5)
            t = time.perf_counter()
            conns[i].sendall(b"GET /?d=%d HTTP/1.1\r\nHost: x\r\n\r\n" % int(delay))
            recv_resp(conns[i])
            ms = (time.perf_counter() - t) * 1000
            with lock:
                done[pi] += 1; lat[pi].append(ms); last[0] = max(last[0], time.time())
        except Exception:
            with lock: errors[0] += 1
            try: conns[i].close()
            except Exception: pass
            conns[i] = None
        k += workers
for pi, (rate, delay, secs) in enumerate(phases):
    start = time.time()
    print("phase %d %d" % (pi, int(start * 1000)), flush=True)
    ts = [threading.Thread(target=worker, args=(i, pi, start, rate, delay, secs)) for i in range(workers)]
    [t.start() for t in ts]; [t.join() for t in ts]
def q(v, x):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(-(-x * len(v) // 1)) - 1))] if v else 0
print(json.dumps({"completed": done, "errors": errors[0], "p95Ms": [q(v, 0.95) for v in lat], "meanMs": [sum(v) / len(v) if v else 0 for v in lat], "lastDoneMs": int(last[0] * 1000)}), flush=True)
`;

// Connection attempts at "rate" per second for "seconds" to host:port, expected refused.
const REFUSED = String.raw`
import socket, sys, time, json
host, port, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
start = time.time(); n = int(rate * secs); refused = 0; other = 0
print("start %d" % int(start * 1000), flush=True)
for k in range(n):
    at = start + k / rate
    now = time.time()
    if at > now: time.sleep(at - now)
    s = socket.socket(fam)
    s.settimeout(1)
    r = s.connect_ex((host, port))
    s.close()
    if r == 111: refused += 1
    else: other += 1
print(json.dumps({"refused": refused, "other": other}), flush=True)
`;

let dir: string | undefined;
function script(name: string, text: string): string {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kes-e2e-'));
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  return file;
}

/** Starts processes somewhere: the host (ProcessGroup.spawn) or a test netns (TestNetns.spawn). */
export type Spawner = (command: string, args: readonly string[]) => ChildProcess;

function firstLine(child: ChildProcess, what: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no output within ${timeoutMs} ms ${err}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const onData = (d: Buffer): void => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve(out.slice(0, nl));
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}: ${err}`));
    });
  });
}

/** The per-request-delay server; port 0 lets the kernel pick. Resolves with the bound port. */
export async function startDelayServer(spawner: Spawner, host: string, port = 0): Promise<{ child: ChildProcess; port: number }> {
  const child = spawner('python3', [script('server.py', SERVER), host, String(port)]);
  const line = await firstLine(child, `server ${host}:${port}`);
  const bound = Number(/^ready (\d+)/.exec(line)?.[1]);
  if (!Number.isInteger(bound) || bound <= 0) throw new Error(`server said "${line}"`);
  return { child, port: bound };
}

export interface LoadPhase {
  readonly rate: number;
  readonly delayMs: number;
  readonly seconds: number;
}

export interface LoadSummary {
  readonly completed: number[];
  readonly errors: number;
  /** Client-measured latency per phase, ms. */
  readonly p95Ms: number[];
  readonly meanMs: number[];
  /** Unix ms when the last response arrived. */
  readonly lastDoneMs: number;
}

export interface LoadRun {
  readonly child: ChildProcess;
  /** Unix ms at which each phase started (filled as they start). */
  readonly phaseStarts: number[];
  /** Waits for phase `index` to start; resolves with its start time (unix ms). */
  phaseStarted(index: number, timeoutMs?: number): Promise<number>;
  /** Completed requests per phase and errors, when the run ends. */
  readonly done: Promise<LoadSummary>;
}

/** Paced keep-alive load in phases (bounded by the phases' total time + 2 s each). */
export function startLoad(spawner: Spawner, host: string, port: number, phases: readonly LoadPhase[], workers = 8): LoadRun {
  const spec = phases.map((p) => `${p.rate}:${p.delayMs}:${p.seconds}`).join(',');
  const child = spawner('python3', [script('load.py', LOAD), host, String(port), spec, String(workers)]);
  const phaseStarts: number[] = [];
  const listeners = new Set<() => void>();
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<LoadSummary>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^phase (\d+) (\d+)$/.exec(line);
        if (m) {
          phaseStarts[Number(m[1])] = Number(m[2]);
          for (const l of listeners) l();
        } else if (line.startsWith('{')) {
          resolve(JSON.parse(line) as LoadSummary);
        }
      }
    });
    child.once('exit', (code, signal) => {
      for (const l of listeners) l();
      reject(new Error(`load generator exited ${code ?? signal} without a summary: ${err}`));
    });
  });
  done.catch(() => undefined);
  return {
    child,
    phaseStarts,
    done,
    phaseStarted(index, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const at = phaseStarts[index];
          if (at !== undefined) finish(() => resolve(at));
          else if (child.exitCode !== null || child.signalCode !== null) finish(() => reject(new Error(`load generator ended before phase ${index}: ${err}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`phase ${index} did not start within ${timeoutMs} ms`))), timeoutMs);
        const finish = (f: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Paced connection attempts that nothing accepts; resolves with the start time (unix ms) and a summary promise. */
export async function startRefusedAttempts(
  spawner: Spawner,
  host: string,
  port: number,
  rate: number,
  seconds: number,
): Promise<{ child: ChildProcess; startMs: number; done: Promise<{ refused: number; other: number }> }> {
  const child = spawner('python3', [script('refused.py', REFUSED), host, String(port), String(rate), String(seconds)]);
  let rest = '';
  const done = new Promise<{ refused: number; other: number }>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      rest += d.toString();
      const m = /(\{.*\})\n/.exec(rest);
      if (m) resolve(JSON.parse(m[1]!) as { refused: number; other: number });
    });
    child.once('exit', () => reject(new Error('refused-attempt generator exited without a summary')));
  });
  done.catch(() => undefined);
  const line = await firstLine(child, 'refused-attempt generator');
  const startMs = Number(/^start (\d+)/.exec(line)?.[1]);
  return { child, startMs, done };
}
