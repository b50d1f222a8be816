import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Histogram } from '../../src/histogram/histogram.js';

/**
 * gRPC unary load from h2load (Debian nghttp2-client): an HTTP/2 client in C that costs a
 * fraction of the server's CPU per request, so a 2-core run measures the scaler, not its
 * clients. Every request of one h2load process carries the same pre-encoded gRPC message
 * (KEDA resends the same ScaledObjectRef on every poll); URIs are taken round-robin.
 * h2load counts HTTP status only, and gRPC errors travel as 200 + grpc-status: callers
 * check one real call per message before the run.
 */

/** A gRPC length-prefixed message: flag byte (not compressed), u32 length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

export interface H2loadRun {
  readonly name: string;
  /** URIs (http://host:port/package.Service/Method), used round-robin. */
  readonly uris: readonly string[];
  /** The request message (unframed protobuf). */
  readonly message: Buffer;
  readonly connections: number;
  /** Concurrent streams per connection. */
  readonly streams: number;
}

export interface H2loadResult {
  readonly name: string;
  readonly requests: number;
  readonly failed: number;
  readonly histogram: Histogram;
  readonly cpuMs: number;
}

/** Runs each load for `seconds` at once; resolves with per-request latencies from h2load's log. */
export async function runH2load(runs: readonly H2loadRun[], seconds: number, dir: string): Promise<H2loadResult[]> {
  return Promise.all(
    runs.map(async (run) => {
      const body = path.join(dir, `${run.name}.bin`);
      const log = path.join(dir, `${run.name}.log`);
      fs.writeFileSync(body, grpcFrame(run.message));
      fs.rmSync(log, { force: true });
      const args = ['-D', String(seconds), '-c', String(run.connections), '-m', String(run.streams), '-t', '1'];
      args.push('-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', body, `--log-file=${log}`, ...run.uris);
      // bash's `times` prints the CPU its finished children used: h2load's own cost.
      const script = 'h2load "$@" >&2; code=$?; times; exit $code';
      const child = spawn('bash', ['-c', script, 'h2load', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      if (code !== 0) throw new Error(`h2load ${run.name} exited with ${code}: ${stderr.slice(-500)}`);
      const histogram = new Histogram();
      let requests = 0;
      let failed = 0;
      for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
        const [, status, latencyUs] = line.split('\t');
        if (status === undefined || latencyUs === undefined) continue;
        requests++;
        if (status !== '200') failed++;
        else histogram.record(Number(latencyUs));
      }
      return { name: run.name, requests, failed, histogram, cpuMs: childrenCpuMs(stdout) };
    }),
  );
}

/** The children line of bash's `times` ("0m1.234s 0m0.567s"): user + system in ms. */
function childrenCpuMs(timesOutput: string): number {
  const line = timesOutput.trim().split('\n').at(-1) ?? '';
  let total = 0;
  for (const match of line.matchAll(/(\d+)m([\d.]+)s/g)) total += (Number(match[1]) * 60 + Number(match[2])) * 1000;
  return total;
}
