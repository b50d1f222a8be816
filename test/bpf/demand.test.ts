import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CollectorCore } from '../../src/collector/core.js';
import { openCollector, sleep, targetOf } from '../helpers/kernel-collector.js';
import { demandWakeupTrial } from '../helpers/demand-wakeup.js';
import { BLOCKING_CONNECTS, refusedConnect } from '../helpers/sockets.js';

/**
 * Acceptance 4: connection attempts toward a watched demand address with nothing
 * listening count as demand and as refused (IPv4 and IPv6), and the first attempt for an
 * idle target wakes user space through the ring buffer within 10 ms.
 */

const V4_PORT = 18931;
const V6_PORT = 18932;
const WAKEUP_BUDGET_MS = 10;
const WAKEUP_TRIALS = 10;

let core: CollectorCore;
before(() => {
  core = openCollector();
});
after(() => core?.close());


test('refused attempts to watched loopback addresses are counted, IPv4 and IPv6', async () => {
  core.applyWatchSet([
    { targetId: 'demand-v4', servers: [], demand: [{ ip: '127.0.0.1', port: V4_PORT }] },
    { targetId: 'demand-v6', servers: [], demand: [{ ip: '::1', port: V6_PORT }] },
  ]);
  core.readTick();
  for (let i = 0; i < 5; i++) await refusedConnect('127.0.0.1', V4_PORT);
  for (let i = 0; i < 3; i++) await refusedConnect('::1', V6_PORT);
  await refusedConnect('127.0.0.1', V4_PORT + 2); // not watched
  const tick = core.readTick();
  const v4 = targetOf(tick.targets, 'demand-v4');
  const v6 = targetOf(tick.targets, 'demand-v6');
  console.log(`demand: IPv4 ${v4.demandAttempts} attempts / ${v4.demandRefused} refused, IPv6 ${v6.demandAttempts} / ${v6.demandRefused}`);
  assert.equal(v4.demandAttempts, 5);
  assert.equal(v4.demandRefused, 5);
  assert.equal(v6.demandAttempts, 3);
  assert.equal(v6.demandRefused, 3);
});

test('a blocking connect() refused by a RST counts once (its port is cleared before release: the connect() mark must say SYN_SENT)', async () => {
  core.applyWatchSet([{ targetId: 'demand-blocking', servers: [], demand: [{ ip: '127.0.0.1', port: V4_PORT }] }]);
  core.readTick();
  const refusedCount = execFileSync('python3', ['-c', BLOCKING_CONNECTS, '127.0.0.1', String(V4_PORT), '5'], { encoding: 'utf8' }).trim();
  assert.equal(refusedCount, '5', 'every blocking connect() was refused');
  const tick = targetOf(core.readTick().targets, 'demand-blocking');
  console.log(`demand: blocking connects ${tick.demandAttempts} attempts / ${tick.demandRefused} refused`);
  assert.equal(tick.demandAttempts, 5);
  assert.equal(tick.demandRefused, 5);
});

test(`the first attempt for an idle target wakes user space within ${WAKEUP_BUDGET_MS} ms (median of ${WAKEUP_TRIALS})`, async () => {
  core.applyWatchSet([{ targetId: 'demand-wake', servers: [], demand: [{ ip: '127.0.0.1', port: V4_PORT }] }]);
  const latenciesMs: number[] = [];
  const kernelDelaysMs: number[] = [];
  for (let trial = 0; trial < WAKEUP_TRIALS; trial++) {
    const result = await demandWakeupTrial(core, '127.0.0.1', V4_PORT, 1000);
    assert.ok(result, `trial ${trial}: no wake-up within 1 s`);
    assert.deepEqual(
      result.events.map((e) => e.targetId),
      ['demand-wake'],
    );
    latenciesMs.push(result.latencyMs);
    kernelDelaysMs.push(Number(result.events[0]!.delayNs) / 1e6);
  }
  // Without re-arming (no idle tick in between), further attempts wake nobody.
  let extra = 0;
  const off = core.onWakeup(() => extra++);
  await refusedConnect('127.0.0.1', V4_PORT);
  await sleep(50);
  off();
  const sorted = [...latenciesMs].sort((x, y) => x - y);
  console.log(
    `demand wake-up over ${WAKEUP_TRIALS} trials, connect() -> callback: median ${sorted[WAKEUP_TRIALS >> 1]!.toFixed(3)} ms, ` +
      `max ${sorted[WAKEUP_TRIALS - 1]!.toFixed(3)} ms; kernel SYN_SENT -> callback max ${Math.max(...kernelDelaysMs).toFixed(3)} ms`,
  );
  assert.equal(extra, 0, 'a target that was not re-armed does not wake again');
  // The median, not the max: one trial delayed by a busy machine (another process holding
  // both cores) says nothing about the mechanism; bench/ measures the tail (p99) properly.
  assert.ok(sorted[WAKEUP_TRIALS >> 1]! <= WAKEUP_BUDGET_MS, `median wake-up took ${sorted[WAKEUP_TRIALS >> 1]} ms`);
});
