/**
 * KEDA-shaped polling for the soak (resource-bounds benchmark): for each of TARGETS
 * ScaledObjects (keda-targets.ts) the operator's poll every 30 s (GetMetricSpec,
 * GetMetrics, IsActive) and the HPA's every 15 s (GetMetricSpec, GetMetrics), phases spread
 * evenly, each call with KEDA's 3 s deadline. Prints {"msg":"ready"} once every target
 * answered, starts on SIGUSR2, prints {"msg":"minute", ...} every minute and
 * {"msg":"done", calls, errors, p50Ms, p99Ms, maxMs} after DURATION_MS.
 * Targets FIRST .. FIRST+TARGETS-1 (FIRST defaults to 0), so several processes can share the polling.
 *   node --import tsx bench/workers/keda-poll.ts ADDRESS TARGETS DURATION_MS [FIRST]
 */
import { Histogram } from '../../src/histogram/histogram.js';
import { KedaClient } from '../../src/keda/client.js';
import { maxOf, quantile, round } from '../lib/stats.js';
import { kedaTargetRef } from './keda-targets.js';

const [address, targetsArg, durationArg, firstArg] = process.argv.slice(2);
if (!address || !targetsArg || !durationArg) throw new Error('usage: keda-poll.ts ADDRESS TARGETS DURATION_MS');
const targets = Number(targetsArg);
const first = Number(firstArg ?? 0);
const client = new KedaClient(address);
const names: string[] = [];
for (let i = 0; i < targets; i += 50) {
  const batch = await Promise.all(Array.from({ length: Math.min(50, targets - i) }, (_, k) => client.metricName(kedaTargetRef(first + i + k))));
  names.push(...batch);
}
// Listening before saying ready (no race with the sender); a signal listener alone does
// not keep the event loop alive, so a timer holds it.
const holder = setInterval(() => undefined, 1000);
const go = new Promise((resolve) => process.once('SIGUSR2', resolve));
process.stdout.write(`${JSON.stringify({ msg: 'ready' })}\n`);
await go;
clearInterval(holder);

let all: number[] = [];
let minute: number[] = [];
let errors = 0;
let minuteErrors = 0;
const firstErrors: string[] = [];
const pending = new Set<Promise<void>>();
const timed = (call: () => Promise<unknown>): Promise<void> => {
  const t = performance.now();
  return call().then(
    () => {
      const ms = performance.now() - t;
      all.push(ms);
      minute.push(ms);
    },
    (err: unknown) => {
      errors++;
      minuteErrors++;
      if (firstErrors.length < 5) firstErrors.push(err instanceof Error ? err.message : String(err));
    },
  );
};
const track = (p: Promise<void>): void => {
  pending.add(p);
  void p.finally(() => pending.delete(p));
};
const operatorPoll = (i: number): void =>
  track(
    (async () => {
      const ref = kedaTargetRef(first + i);
      await timed(() => client.metricName(ref));
      await timed(() => client.metricValue(ref, names[i]!));
      await timed(() => client.isActive(ref));
    })(),
  );
const hpaPoll = (i: number): void =>
  track(
    (async () => {
      const ref = kedaTargetRef(first + i);
      await timed(() => client.metricName(ref));
      await timed(() => client.metricValue(ref, names[i]!));
    })(),
  );

const end = Date.now() + Number(durationArg);
const timers: NodeJS.Timeout[] = [];
for (let i = 0; i < targets; i++) {
  const phase = Math.floor((i / targets) * 30_000);
  timers.push(setTimeout(() => {
    operatorPoll(i);
    timers.push(setInterval(() => operatorPoll(i), 30_000));
  }, phase));
  timers.push(setTimeout(() => {
    hpaPoll(i);
    timers.push(setInterval(() => hpaPoll(i), 15_000));
  }, (phase + 7_500) % 15_000));
}
const minuteTimer = setInterval(() => {
  process.stdout.write(`${JSON.stringify({ msg: 'minute', calls: minute.length, errors: minuteErrors, p99Ms: round(quantile(minute, 0.99), 2), maxMs: round(maxOf(minute), 2) })}\n`);
  minute = [];
  minuteErrors = 0;
}, 60_000);
await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())));
for (const t of timers) clearInterval(t);
clearInterval(minuteTimer);
await Promise.all([...pending]);
client.close();
// Latencies as a histogram in the project's layout (microseconds), so runs can be merged.
const histogram = new Histogram();
for (const ms of all) histogram.record(Math.max(1, Math.round(ms * 1000)));
const summary = { msg: 'done', calls: all.length, errors, firstErrors, buckets: histogram.toSparse(), p50Ms: round(quantile(all, 0.5), 2), p99Ms: round(quantile(all, 0.99), 2), maxMs: round(maxOf(all), 2) };
all = [];
// Exit only once the line is written: a pipe reader may see 'exit' before late data otherwise.
process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(0));
