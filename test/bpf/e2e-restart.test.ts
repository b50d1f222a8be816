import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { metricRefs, relabel, sample, sampleUntil, type MetricRef } from '../helpers/e2e-metrics.js';
import {
  ProcessGroup,
  freePort,
  requireE2e,
  round,
  sleep,
  startCollectorProcess,
  startScalerProcess,
  type CliProcess,
} from '../helpers/e2e-processes.js';

/**
 * Acceptance 4 (issue 4): separate `scaler` and `collector` processes under a steady
 * 40 req/s load.
 * - kill -9 the scaler, start it again on the same port: the collector reconnects and
 *   GetMetrics shows traffic again within 5 s, and the backlog it resends causes no
 *   spike (checked on a 2 s and a 10 s window).
 * - kill -9 the collector: the scaler keeps answering every RPC, the window shows a gap
 *   (falls to 0) instead of holding stale figures; start the collector again: traffic
 *   resumes with no phantom spike (rps never above 1.5x the offered rate).
 */

const RATE = 40;
const WINDOW = '2s';
const LONG_WINDOW = '10s';
const RESUME_BUDGET_MS = 5000;
const SPIKE_FACTOR = 1.5;
const LOAD_SECONDS = 40;

const group = new ProcessGroup();
let scalerPort: number;
let ingestPort: number;
let address: string;
let client: KedaClient;
let scaler: CliProcess;
let collector: CliProcess;

before(async () => {
  requireE2e();
  scalerPort = await freePort();
  ingestPort = await freePort();
  address = `127.0.0.1:${scalerPort}`;
  scaler = await startScalerProcess(group, 'scaler', scalerPort, ingestPort);
  collector = await startCollectorProcess(group, 'collector', [`127.0.0.1:${ingestPort}`], '250ms');
  client = new KedaClient(address);
});
after(async () => {
  client?.close();
  await group.killAll();
});

/** Polls until rps > 0 (bounded); resolves with the ms it took, or Infinity. */
async function untilTraffic(refs: readonly MetricRef[], fromMs: number, budgetMs: number): Promise<number> {
  while (Date.now() - fromMs < budgetMs + 1000) {
    try {
      const s = await sample(client, refs);
      if ((s.values.rps ?? 0) > 0) return s.atMs - fromMs;
    } catch {
      // the scaler may still be starting
    }
    await sleep(100);
  }
  return Infinity;
}

test('kill -9 of the scaler and of the collector under load: resume, gap, no phantom spike', async () => {
  const server = await startDelayServer((c, a) => group.spawn(c, a), '127.0.0.1');
  const base = { port: String(server.port), window: WINDOW };
  let refs = await metricRefs(client, 'restart', base, ['rps', 'latency']);
  const load = startLoad((c, a) => group.spawn(c, a), '127.0.0.1', server.port, [{ rate: RATE, delayMs: 5, seconds: LOAD_SECONDS }], 4);
  const loadStart = await load.phaseStarted(0);
  const warm = await sampleUntil(client, refs, loadStart + 4000, 200);
  const before = warm.filter((s) => s.atMs >= loadStart + 2500).map((s) => s.values.rps ?? 0);
  console.log(`e2e-restart: steady rps before the kills ${before.map((x) => round(x, 1)).join(' ')} (offered ${RATE}/s)`);
  assert.ok(before.every((x) => x > 0), 'no traffic seen before the kills');
  // Every check below is collected, so one failure does not hide the other figures.
  const failures: string[] = [];
  const check = (ok: unknown, message: string): void => {
    if (!ok) failures.push(message);
  };

  // 1. The scaler dies and comes back on the same port.
  await scaler.kill('SIGKILL');
  const killedAt = Date.now();
  await sleep(1000);
  scaler = await startScalerProcess(group, 'scaler-2', scalerPort, ingestPort);
  const restartedAt = Date.now();
  client.close();
  client = new KedaClient(address);
  // KEDA asks again after the restart (that is what registers the target on the new replica).
  // A second trigger on the same target with a long window: resent backlog from before the
  // target was (re)registered must not be divided by the few seconds since registration.
  refs = [
    ...(await metricRefs(client, 'restart', base, ['rps', 'latency'])),
    relabel((await metricRefs(client, 'restart-long', { ...base, window: LONG_WINDOW }, ['rps']))[0]!, 'rpsLong'),
  ];
  const resumeMs = await untilTraffic(refs, restartedAt, RESUME_BUDGET_MS);
  const afterScaler = await sampleUntil(client, refs, Date.now() + 4000, 100);
  const maxAfterScaler = Math.max(...afterScaler.map((s) => s.values.rps ?? 0));
  const maxLongAfterScaler = Math.max(...afterScaler.map((s) => s.values.rpsLong ?? 0));
  const connected = collector.lines.filter((l) => l.msg === 'connected to scaler');
  const reconnects = connected.length;
  const resent = connected.at(-1)?.['resend'];
  console.log(
    `e2e-restart: scaler kill -9 -> restarted ${restartedAt - killedAt} ms later; metrics resumed ${resumeMs} ms after the restart ` +
      `(collector 'connected to scaler' lines: ${reconnects}, reports resent on reconnect: ${JSON.stringify(resent)}); max rps in the 4 s after: ${round(maxAfterScaler, 1)} (window ${WINDOW}), ${round(maxLongAfterScaler, 1)} (window ${LONG_WINDOW}); limit ${SPIKE_FACTOR * RATE}`,
  );
  check(resumeMs <= RESUME_BUDGET_MS, `metrics did not resume within ${RESUME_BUDGET_MS} ms of the scaler restart`);
  check(reconnects >= 2, 'the collector did not log a reconnection');
  check(maxAfterScaler <= SPIKE_FACTOR * RATE, `rps (window ${WINDOW}) spiked to ${maxAfterScaler} after the scaler restart`);
  check(maxLongAfterScaler <= SPIKE_FACTOR * RATE, `rps (window ${LONG_WINDOW}) spiked to ${maxLongAfterScaler} after the scaler restart`);

  // 2. The collector dies: the scaler keeps serving and shows a gap.
  await collector.kill('SIGKILL');
  const collectorKilledAt = Date.now();
  let rpcErrors = 0;
  let reads = 0;
  const gap: { atMs: number; rps: number; active: boolean }[] = [];
  const ref: KedaRef = refs[0]!.ref;
  while (Date.now() - collectorKilledAt < 4000) {
    try {
      const [s, active] = await Promise.all([sample(client, refs), client.isActive(ref)]);
      gap.push({ atMs: s.atMs, rps: s.values.rps ?? NaN, active });
    } catch {
      rpcErrors++;
    }
    reads++;
    await sleep(200);
  }
  const zeroAt = gap.find((g) => g.rps === 0);
  console.log(
    `e2e-restart: collector kill -9: ${reads} rounds of GetMetrics x2 + IsActive, ${rpcErrors} failed; rps fell to 0 ` +
      `${zeroAt ? zeroAt.atMs - collectorKilledAt : 'never'} ms after the kill (window ${WINDOW})`,
  );
  check(rpcErrors === 0, 'the scaler stopped answering while the collector was down');
  check(zeroAt, 'the window kept showing traffic with no collector running (no gap)');

  // 3. The collector comes back: traffic again, no phantom spike.
  const collectorStartAt = Date.now();
  collector = await startCollectorProcess(group, 'collector-2', [`127.0.0.1:${ingestPort}`], '250ms');
  const collectorUp = Date.now();
  const back = await sampleUntil(client, refs, collectorUp + 5000, 100);
  const firstBack = back.find((s) => (s.values.rps ?? 0) > 0);
  const maxBack = Math.max(...back.map((s) => Math.max(s.values.rps ?? 0, s.values.rpsLong ?? 0)));
  const gapLine = scaler.lines.find((l) => l.msg === 'collector restarted: gap in its data');
  console.log(
    `e2e-restart: collector restarted (start took ${collectorUp - collectorStartAt} ms): traffic visible ${firstBack ? firstBack.atMs - collectorUp : 'never'} ms after it ran; ` +
      `max rps over the next 5 s ${round(maxBack, 1)} (offered ${RATE}/s, limit ${SPIKE_FACTOR * RATE}); scaler logged the gap: ${gapLine ? 'yes' : 'no'}`,
  );
  check(firstBack, 'no traffic after the collector came back');
  check(maxBack <= SPIKE_FACTOR * RATE, `phantom spike: rps ${maxBack} > ${SPIKE_FACTOR * RATE}`);
  check(gapLine, 'the scaler did not log the collector restart as a gap');
  load.child.kill('SIGKILL');
  assert.deepEqual(failures, []);
});
