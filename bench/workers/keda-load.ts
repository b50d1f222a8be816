/**
 * One KEDA-shaped client process for case 6 (a separate process so the load generator is
 * not the bottleneck in the scaler's or the runner's event loop). Over its own channel
 * (one HTTP/2 connection) it runs CONCURRENCY poll loops; a poll is what the KEDA operator
 * does per ScaledObject: GetMetricSpec, GetMetrics(name), IsActive. Targets FROM..TO-1 of
 * the shared metadata scheme. Starts at START_MS (epoch), stops at END_MS; prints one JSON
 * line: RPC count, errors, and a latency histogram (project layout, microseconds).
 *   node --import tsx bench/workers/keda-load.ts ADDRESS FROM TO CONCURRENCY START_MS END_MS
 */
import { Histogram } from '../../src/histogram/histogram.js';
import { KedaClient } from '../../src/keda/client.js';
import { kedaTargetRef } from './keda-targets.js';

const [address, from, to, concurrency, startMs, endMs] = process.argv.slice(2);
if (!address || !from || !to || !concurrency || !startMs || !endMs) throw new Error('usage: keda-load ADDRESS FROM TO CONCURRENCY START_MS END_MS');
const first = Number(from);
const count = Number(to) - first;
const end = Number(endMs);
const client = new KedaClient(address);
const hist = new Histogram();
let calls = 0;
let errors = 0;
let next = 0;

async function timed<T>(call: () => Promise<T>): Promise<T | undefined> {
  const t = performance.now();
  try {
    const result = await call();
    hist.record(Math.max(1, Math.round((performance.now() - t) * 1000)));
    calls++;
    return result;
  } catch {
    errors++;
    return undefined;
  }
}

async function loop(): Promise<void> {
  while (Date.now() < end) {
    const ref = kedaTargetRef(first + (next++ % count));
    const name = await timed(() => client.metricName(ref));
    if (name !== undefined) await timed(() => client.metricValue(ref, name));
    await timed(() => client.isActive(ref));
  }
}

// Connect before the start mark, so channel set-up is not measured.
await client.isActive(kedaTargetRef(first)).catch(() => undefined);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startMs) - Date.now())));
const started = Date.now();
await Promise.all(Array.from({ length: Number(concurrency) }, () => loop()));
const wallMs = Date.now() - started;
client.close();
process.stdout.write(`${JSON.stringify({ calls, errors, wallMs, buckets: hist.toSparse() })}\n`);
