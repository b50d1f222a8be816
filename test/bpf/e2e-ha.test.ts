import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KedaClient } from '../../src/keda/client.js';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { metricRefs, sample, type MetricRef } from '../helpers/e2e-metrics.js';
import { ProcessGroup, freePort, requireE2e, round, sleep, startCollectorProcess, startScalerProcess } from '../helpers/e2e-processes.js';

/**
 * Acceptance 5 (issue 4): two scaler replicas fed by one collector (`--scaler A,B`) give
 * KEDA the same answers: the same trigger read from both at the same moment differs by at
 * most one collector tick's worth of data (rps: rate x tick / window; latency p95: 10%).
 */

const TICK_MS = 1000;
const WINDOW_S = 5;
const RATE = 40;
const SAMPLES = 10;

const group = new ProcessGroup();
const clients: KedaClient[] = [];

before(async () => {
  requireE2e();
  const ports = [await freePort(), await freePort()];
  const ingestPorts = [await freePort(), await freePort()];
  const addresses = ports.map((p) => `127.0.0.1:${p}`);
  await Promise.all(ports.map((p, i) => startScalerProcess(group, `scaler-${i}`, p, ingestPorts[i]!)));
  await startCollectorProcess(group, 'collector', ingestPorts.map((p) => `127.0.0.1:${p}`), `${TICK_MS}ms`);
  for (const a of addresses) clients.push(new KedaClient(a));
});
after(async () => {
  for (const c of clients) c.close();
  await group.killAll();
});

test('two scalers fed by one collector answer the same values within one tick', async () => {
  const [a, b] = clients as [KedaClient, KedaClient];
  const server = await startDelayServer((c, args) => group.spawn(c, args), '127.0.0.1');
  const base = { port: String(server.port), window: `${WINDOW_S}s` };
  // KEDA asks both replicas (round-robin); both register the target at about the same time.
  const [refsA, refsB] = (await Promise.all([metricRefs(a, 'ha', base, ['rps', 'latency']), metricRefs(b, 'ha', base, ['rps', 'latency'])])) as [MetricRef[], MetricRef[]];
  const load = startLoad((c, args) => group.spawn(c, args), '127.0.0.1', server.port, [{ rate: RATE, delayMs: 10, seconds: WINDOW_S + 2 + SAMPLES * 0.5 + 2 }], 4);
  const loadStart = await load.phaseStarted(0);
  await sleep(Math.max(0, loadStart + (WINDOW_S + 1) * 1000 - Date.now()));

  const rpsAllowance = (RATE * TICK_MS) / 1000 / WINDOW_S;
  const rows: string[] = [];
  const failures: string[] = [];
  let maxRpsDiff = 0;
  let maxLatDiff = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const [sa, sb, activeA, activeB] = await Promise.all([sample(a, refsA), sample(b, refsB), a.isActive(refsA[0]!.ref), b.isActive(refsB[0]!.ref)]);
    const rA = sa.values.rps ?? NaN;
    const rB = sb.values.rps ?? NaN;
    const lA = sa.values.latency ?? NaN;
    const lB = sb.values.latency ?? NaN;
    const rpsDiff = Math.abs(rA - rB);
    const latDiff = Math.abs(lA - lB);
    maxRpsDiff = Math.max(maxRpsDiff, rpsDiff);
    maxLatDiff = Math.max(maxLatDiff, latDiff);
    rows.push(`${round(rA, 1)}|${round(rB, 1)} ${round(lA, 1)}|${round(lB, 1)}`);
    if (!(rpsDiff <= rpsAllowance)) failures.push(`sample ${i}: rps ${rA} vs ${rB}`);
    if (!(latDiff <= Math.max(1, 0.1 * Math.max(lA, lB)))) failures.push(`sample ${i}: latency ${lA} vs ${lB}`);
    if (activeA !== activeB || !activeA) failures.push(`sample ${i}: IsActive ${activeA} vs ${activeB} under load`);
    if (!(rA > 0 && lA > 0)) failures.push(`sample ${i}: no traffic seen (rps ${rA}, latency ${lA})`);
    await sleep(500);
  }
  load.child.kill('SIGKILL');
  console.log(`e2e-ha: samples (rps A|B  p95 ms A|B): ${rows.join(', ')}`);
  console.log(
    `e2e-ha: max |rps A - rps B| ${round(maxRpsDiff)} (allowed ${round(rpsAllowance)}: ${RATE}/s x ${TICK_MS} ms tick / ${WINDOW_S} s window); ` +
      `max |p95 A - p95 B| ${round(maxLatDiff)} ms`,
  );
  assert.deepEqual(failures, []);
});
