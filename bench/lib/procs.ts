import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The product's own CLI as separate processes (scaler, standalone, collector), so their CPU
 * and memory are measured apart from the load generators. Plain node on JavaScript that
 * esbuild (already in node_modules as tsx's transformer) transpiles from src/ file by file
 * into a temp dir at start, so no tsx loader sits in the measured processes (it adds tens of
 * MB of RSS); dist/ is not used because it may be stale. Falls back to tsx if that fails.
 */

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let compiledCli: string | undefined;
let compiledDir: string | undefined;

/** Transpiles src/ into a temp dir laid out like the package (dist/, proto, build, node_modules). */
export function prepareCli(): 'plain node (esbuild-transpiled src)' | 'tsx' {
  if (compiledCli) return 'plain node (esbuild-transpiled src)';
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kes-bench-cli-'));
    const sources = fs.readdirSync(path.join(REPO, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => path.join(REPO, 'src', f));
    execFileSync(path.join(REPO, 'node_modules/.bin/esbuild'), [...sources, `--outdir=${dir}/dist`, `--outbase=${REPO}/src`, '--format=esm', '--platform=node', '--target=node20', '--log-level=error']);
    for (const link of ['proto', 'build', 'node_modules', 'package.json']) fs.symlinkSync(path.join(REPO, link), path.join(dir, link));
    compiledDir = dir;
    compiledCli = path.join(dir, 'dist/cli.js');
    return 'plain node (esbuild-transpiled src)';
  } catch (err) {
    console.error(`[bench] esbuild transpile failed, running the CLI through tsx: ${String(err)}`);
    return 'tsx';
  }
}

export function cleanupCli(): void {
  if (compiledDir) fs.rmSync(compiledDir, { recursive: true, force: true });
  compiledDir = undefined;
  compiledCli = undefined;
}

export function cliRuntime(): string {
  return compiledCli ? 'plain node (esbuild-transpiled src)' : 'tsx';
}

export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the first JSON log line whose msg matches. */
  waitForLog(msg: RegExp, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Every JSON line the process prints on stdout, as it comes. */
  onLine(listener: (line: Record<string, unknown>) => void): void;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** CPU list for taskset (undefined = not pinned). */
  readonly cpus?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeFlags?: readonly string[];
  readonly cwd?: string;
}

/** Runs a node script (a bench worker or the CLI) as its own process. */
export function spawnNode(script: string, args: readonly string[], options: SpawnOptions = {}): CliProcess {
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  // BENCH_CPU_PROF=DIR profiles every process the bench starts (node --cpu-prof), for the docs' bottleneck notes.
  // BENCH_NODE_FLAGS adds node flags (e.g. --trace-gc) to every process; BENCH_RAW_LOG=DIR keeps their raw stdout.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const extra = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : [];
  const nodeArgs = [...profile, ...extra, ...(options.nodeFlags ?? []), ...loader, script, ...args];
  const [command, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  // taskset execs node, so the pid is node's own.
  const child = spawn(command, argv, { cwd: options.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { KEDA_EBPF_METRICS_LISTEN: '127.0.0.1:0', ...process.env } });
  const lines: Record<string, unknown>[] = [];
  const listeners: ((line: Record<string, unknown>) => void)[] = [];
  const waiters = new Set<{ msg: RegExp; resolve: (line: Record<string, unknown>) => void }>();
  let buffer = '';
  let stderr = '';
  const onLine = (text: string): void => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (lines.length < 1000) lines.push(line);
    for (const listener of listeners) listener(line);
    for (const waiter of waiters) {
      if (waiter.msg.test(String(line.msg ?? ''))) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  const rawLog = process.env.BENCH_RAW_LOG ? fs.createWriteStream(path.join(process.env.BENCH_RAW_LOG, `${path.basename(script)}-${args[0] ?? ''}-${child.pid}.log`)) : undefined;
  child.stdout?.on('data', (d: Buffer) => {
    rawLog?.write(d);
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid ?? -1,
    onLine(listener) {
      listeners.push(listener);
    },
    waitForLog(msg, timeoutMs = 20_000) {
      const seen = lines.find((l) => msg.test(String(l.msg ?? '')));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = {
          msg,
          resolve: (line: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${path.basename(script)} ${args[0] ?? ''}: no log line matching ${msg} within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then(() => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`${path.basename(script)} exited (${child.exitCode}) before logging ${msg}; stderr: ${stderr.slice(-2000)}`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The product CLI: `keda-ebpf-scaler <command> ...args`. */
export function spawnCli(command: string, args: readonly string[], options: SpawnOptions = {}): CliProcess {
  const script = compiledCli ?? path.join(REPO, 'src/cli.ts');
  return spawnNode(script, [command, ...args], options);
}

export { freePort } from '../../test/helpers/sockets.js';
