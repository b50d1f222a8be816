import type { TestNetns } from '../../test/helpers/netns.js';

/** wrk (Debian) run inside a test netns, pinned to one CPU; output parsed into numbers. */

export interface WrkOptions {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  /** CPU list for taskset, e.g. "1"; undefined = not pinned. */
  readonly cpus?: string;
  /** Lua script path (request generation, pacing). */
  readonly script?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  /** Client-side latency quantiles in ms (wrk --latency: 50, 75, 90, 99). */
  readonly p50Ms: number;
  readonly p75Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function parseDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!match) throw new Error(`unexpected wrk duration "${text}"`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const q = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    if (!m) throw new Error(`wrk output lacks the ${p}% line: ${out}`);
    return parseDuration(m[1]!);
  };
  if (!rps?.[1] || !total?.[1]) throw new Error(`unexpected wrk output: ${out}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(non2xx?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((s, v) => s + Number(v), 0) : 0);
  return { requests: Number(total[1]), rps: Number(rps[1]), p50Ms: q('50'), p75Ms: q('75'), p90Ms: q('90'), p99Ms: q('99'), errors };
}

export async function runWrk(ns: TestNetns, options: WrkOptions): Promise<WrkResult> {
  const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency', ...(options.script ? ['-s', options.script] : []), options.url];
  const [command, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, 'wrk', ...args]] : ['wrk', args];
  const out = await ns.run(command, argv, (options.seconds + 30) * 1000);
  return parseWrk(out);
}
