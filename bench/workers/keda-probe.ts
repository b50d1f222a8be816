/**
 * A normal KEDA client beside a flood (resource-bounds benchmark): every INTERVAL_MS it
 * calls IsActive and GetMetrics for its own ScaledObject with KEDA's 3 s deadline, for
 * DURATION_MS, then prints {"msg":"done","calls","errors","p50Ms","p99Ms","maxMs"}.
 * Prints {"msg":"ready"} after the first answer (target registered, channel connected).
 *   node --import tsx bench/workers/keda-probe.ts ADDRESS INTERVAL_MS DURATION_MS
 */
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { maxOf, quantile, round } from '../lib/stats.js';

const [address, intervalMs, durationMs] = process.argv.slice(2);
if (!address || !intervalMs || !durationMs) throw new Error('usage: keda-probe.ts ADDRESS INTERVAL_MS DURATION_MS');
const client = new KedaClient(address);
const ref: KedaRef = { name: 'probe', namespace: 'bench', metadata: { scalerAddress: 'bench:9090', port: '19999', metric: 'rps', targetValue: '10' } };
const name = await client.metricName(ref);
// Listening before saying ready (no race with the sender); a signal listener alone does
// not keep the event loop alive, so a timer holds it.
const holder = setInterval(() => undefined, 1000);
const go = new Promise((resolve) => process.once('SIGUSR2', resolve));
process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
await go;
clearInterval(holder);
const latencies: number[] = [];
let errors = 0;
const firstErrors: string[] = [];
const end = Date.now() + Number(durationMs);
const pending: Promise<void>[] = [];
const timed = async (call: () => Promise<unknown>): Promise<void> => {
  const t = performance.now();
  try {
    await call();
    latencies.push(performance.now() - t);
  } catch (err) {
    errors++;
    if (firstErrors.length < 3) firstErrors.push(err instanceof Error ? err.message : String(err));
  }
};
let i = 0;
while (Date.now() < end) {
  // Open loop: a slow answer does not delay the next call (KEDA polls on a timer too).
  pending.push(i++ % 2 === 0 ? timed(() => client.isActive(ref)) : timed(() => client.metricValue(ref, name)));
  await new Promise((r) => setTimeout(r, Number(intervalMs)));
}
await Promise.all(pending);
client.close();
process.stdout.write(
  `${JSON.stringify({ msg: 'done', calls: latencies.length, errors, firstErrors, p50Ms: round(quantile(latencies, 0.5), 2), p99Ms: round(quantile(latencies, 0.99), 2), maxMs: round(maxOf(latencies), 2) })}\n`,
  () => process.exit(0),
);
