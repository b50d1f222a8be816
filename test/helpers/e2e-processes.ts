import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { requireBpfObject } from './kernel-collector.js';
import { testTokenFile } from './scaler-server.js';

/**
 * The product as users run it: `keda-ebpf-scaler <command>` as separate processes (run
 * through tsx, so only the BPF object must be built), with their pino JSON lines parsed so
 * tests can wait for "scaler listening" and read the bound port. Every process a test
 * starts belongs to a ProcessGroup that kills it on cleanup, also after failures.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'src/cli.ts');

/** One pino line (only the fields the tests read). */
export interface LogLine {
  readonly msg?: string;
  readonly port?: number;
  readonly level?: number;
  readonly [key: string]: unknown;
}

export class CliProcess {
  readonly lines: LogLine[] = [];
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    let pending = '';
    const onData = (d: Buffer): void => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.output.push(line);
        if (this.output.length > 2000) this.output.shift();
        if (line.startsWith('{')) {
          try {
            this.lines.push(JSON.parse(line) as LogLine);
          } catch {
            // not a log line
          }
        }
        for (const w of this.waiters) w();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      for (const w of this.waiters) w();
      resolve({ code, signal });
    }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first log line (already seen or future) matching `match`. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(match);
        if (found) return done(() => resolve(found));
        if (!this.running) done(() => reject(new Error(`${this.label} exited before ${what}:\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms:\n${this.tail()}`))), timeoutMs);
      const done = (finish: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        finish();
      };
      this.waiters.add(check);
      check();
    });
  }

  tail(n = 20): string {
    return this.output.slice(-n).join('\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<unknown> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

export class ProcessGroup {
  private readonly procs = new Set<CliProcess>();
  private readonly others = new Set<ChildProcess>();

  /** Starts `keda-ebpf-scaler <args>` (src/cli.ts through tsx). */
  cli(label: string, args: readonly string[]): CliProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new CliProcess(label, child);
    this.procs.add(proc);
    return proc;
  }

  /** Tracks any other child (python servers, load generators) for cleanup. */
  track<T extends ChildProcess>(child: T): T {
    this.others.add(child);
    child.once('exit', () => this.others.delete(child));
    return child;
  }

  /** Starts a plain command in the host network namespace, tracked for cleanup. */
  spawn(command: string, args: readonly string[]): ChildProcess {
    return this.track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  async killAll(): Promise<void> {
    for (const child of this.others) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...this.procs].map((p) => p.kill('SIGKILL')));
    this.procs.clear();
  }
}

/** Root plus the built BPF object (clear message otherwise): what every e2e test needs. */
export function requireE2e(): void {
  requireBpfObject();
}

const isListening = (l: LogLine): boolean => l.msg === 'scaler listening' && typeof l.port === 'number';

/** `standalone --listen 127.0.0.1:0`; resolves with the address once it serves. */
export async function startStandalone(group: ProcessGroup, label: string, tick = '250ms', extra: readonly string[] = []): Promise<{ proc: CliProcess; address: string }> {
  const proc = group.cli(label, ['standalone', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--tick', tick, ...extra]);
  await proc.waitForLog((l) => l.msg === 'standalone scaler and collector running', 20_000, 'standalone start');
  const { port } = await proc.waitForLog(isListening, 1000, 'scaler listening line');
  return { proc, address: `127.0.0.1:${port}` };
}

/**
 * A test file's standalone process and KEDA client: registers before/after hooks that start
 * them (failing loudly without root or the BPF object) and stop them, plus `cleanup`
 * (e.g. netns disposal) before the processes are killed.
 */
export function useStandalone(tick: string, cleanup: () => void = () => undefined): { readonly group: ProcessGroup; client(): KedaClient } {
  const group = new ProcessGroup();
  let client: KedaClient | undefined;
  before(async () => {
    requireE2e();
    const { address } = await startStandalone(group, 'standalone', tick);
    client = new KedaClient(address);
  });
  after(async () => {
    client?.close();
    cleanup();
    await group.killAll();
  });
  return {
    group,
    client() {
      if (!client) throw new Error('the standalone process is not running (before() failed)');
      return client;
    },
  };
}

/** One token file shared by the e2e scaler and collector processes of a test file (token authentication). */
let e2eTokenFile: string | undefined;
const tokenFile = (): string => (e2eTokenFile ??= testTokenFile());

/**
 * `scaler --listen 127.0.0.1:PORT --ingest-listen 127.0.0.1:INGEST_PORT` with token
 * authentication (fixed ports, so it can be restarted on them); collectors dial INGEST_PORT.
 */
export async function startScalerProcess(group: ProcessGroup, label: string, port: number, ingestPort: number): Promise<CliProcess> {
  const proc = group.cli(label, ['scaler', '--listen', `127.0.0.1:${port}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-token-file', tokenFile(), '--metrics-listen', '127.0.0.1:0']);
  await proc.waitForLog(isListening, 20_000, 'scaler listening');
  return proc;
}

/** `collector --scaler A[,B] --node NAME --tick T --token-file F [extra]` (A, B: ingest addresses); resolves once it runs. */
export async function startCollectorProcess(group: ProcessGroup, label: string, scalers: readonly string[], tick = '250ms', extra: readonly string[] = []): Promise<CliProcess> {
  const proc = group.cli(label, ['collector', '--scaler', scalers.join(','), '--node', 'e2e-node', '--tick', tick, '--token-file', tokenFile(), '--metrics-listen', '127.0.0.1:0', ...extra]);
  await proc.waitForLog((l) => l.msg === 'collector running', 20_000, 'collector start');
  return proc;
}

export { freePort, refusedConnect } from './sockets.js';

/** The states a StreamIsActive stream pushes, each with its arrival time (process.hrtime). */
export interface ActiveStates {
  readonly states: { readonly active: boolean; readonly atNs: bigint }[];
  /** Resolves once `predicate` holds over the states so far (checked on each push); rejects after timeoutMs, naming `what`. */
  until(predicate: () => boolean, what: string, timeoutMs: number): Promise<void>;
  cancel(): void;
}

/** Opens StreamIsActive for `ref`, as KEDA keeps it open, and records what it pushes. */
export function watchActive(client: KedaClient, ref: KedaRef): ActiveStates {
  const states: { active: boolean; atNs: bigint }[] = [];
  let notify: () => void = () => undefined;
  const call = client.streamIsActive(ref, (active) => {
    states.push({ active, atNs: process.hrtime.bigint() });
    notify();
  });
  return {
    states,
    until: (predicate, what, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms (states ${JSON.stringify(states.map((s) => s.active))})`)), timeoutMs);
        notify = () => {
          if (predicate()) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      }),
    cancel: () => call.cancel(),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank quantile. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
