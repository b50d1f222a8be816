import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { meanBetween, metricRefs, relabel, sampleUntil, type MetricRef } from '../helpers/e2e-metrics.js';
import { freePort, round, sleep, useStandalone } from '../helpers/e2e-processes.js';
import { createNetns, type TestNetns } from '../helpers/netns.js';

/**
 * Acceptance 6 (issue 4): two "pods" (network namespaces) run the same workload on the
 * same port. A trigger naming only the port merges both into one target's figures
 * (rps = sum of both loads); a trigger with `netns` sees only its own pod.
 */

const RATE_A = 20;
const RATE_B = 40;
const WINDOW = '3s';
const TOLERANCE = 0.25;

const namespaces: TestNetns[] = [];
const standalone = useStandalone('250ms', () => {
  for (const ns of namespaces) ns.dispose();
});

/** Offers RATE_A in pod A and RATE_B in pod B for `seconds`; returns the mean of each ref's reads over the last part. */
async function measure(podA: TestNetns, podB: TestNetns, port: number, refs: readonly MetricRef[], seconds: number): Promise<{ means: number[]; reads: number; completed: number[] }> {
  const loadA = startLoad((c, a) => podA.spawn(c, a), '127.0.0.1', port, [{ rate: RATE_A, delayMs: 5, seconds }], 4);
  const loadB = startLoad((c, a) => podB.spawn(c, a), '127.0.0.1', port, [{ rate: RATE_B, delayMs: 5, seconds }], 4);
  const start = Math.max(await loadA.phaseStarted(0), await loadB.phaseStarted(0));
  const from = start + 3500;
  const to = start + seconds * 1000 - 300;
  await sleep(Math.max(0, from - Date.now()));
  const labelled = refs.map((r, i) => relabel(r, `ref${i}`));
  const samples = await sampleUntil(standalone.client(), labelled, to, 100);
  const [doneA, doneB] = await Promise.all([loadA.done, loadB.done]);
  return {
    means: labelled.map((r) => meanBetween(samples, r.label, from, to)),
    reads: samples.length,
    completed: [doneA.completed[0]!, doneB.completed[0]!],
  };
}

function near(value: number, expected: number, tolerance: number): boolean {
  return Math.abs(value - expected) <= tolerance * expected;
}

test('two pods on the same port merge into one target; netns selects one pod, also while the merged trigger exists', async () => {
  const podA = createNetns('e2e-a');
  namespaces.push(podA);
  const podB = createNetns('e2e-b');
  namespaces.push(podB);
  // A port nothing on the host uses right now, so host processes do not join the merge.
  const port = await freePort();
  await startDelayServer((c, a) => podA.spawn(c, a), '127.0.0.1', port);
  await startDelayServer((c, a) => podB.spawn(c, a), '127.0.0.1', port);
  const failures: string[] = [];
  const sum = RATE_A + RATE_B;

  // 1. Only the port-wide trigger exists: both pods' traffic lands in its target.
  const both = await metricRefs(standalone.client(), 'pods-all', { port: String(port), window: WINDOW }, ['rps']);
  const alone = await measure(podA, podB, port, both, 7);
  console.log(
    `e2e-pods: port ${port} in two netns, offered ${RATE_A} + ${RATE_B} req/s (completed ${alone.completed.join(' + ')}): ` +
      `merged trigger alone: rps ${round(alone.means[0]!)} (mean of ${alone.reads} reads, window ${WINDOW})`,
  );
  if (!near(alone.means[0]!, sum, TOLERANCE)) failures.push(`merged trigger alone: rps ${round(alone.means[0]!)} not within ${TOLERANCE * 100}% of ${sum}`);

  // 2. Per-pod triggers (netns=A, netns=B) next to the port-wide one: each sees its own pod,
  //    and the port-wide target still sees both (the triggers overlap; a request counts for each).
  const onlyA = await metricRefs(standalone.client(), 'pods-a', { port: String(port), netns: podA.path, window: WINDOW }, ['rps']);
  const onlyB = await metricRefs(standalone.client(), 'pods-b', { port: String(port), netns: podB.path, window: WINDOW }, ['rps']);
  const together = await measure(podA, podB, port, [both[0]!, onlyA[0]!, onlyB[0]!], 7);
  const [all, a, b] = together.means as [number, number, number];
  console.log(
    `e2e-pods: with netns triggers too (completed ${together.completed.join(' + ')}): rps merged ${round(all)}, netns A ${round(a)}, netns B ${round(b)} ` +
      `(means of ${together.reads} reads)`,
  );
  if (!near(a, RATE_A, TOLERANCE)) failures.push(`netns A ${round(a)} not within ${TOLERANCE * 100}% of ${RATE_A}`);
  if (!near(b, RATE_B, TOLERANCE)) failures.push(`netns B ${round(b)} not within ${TOLERANCE * 100}% of ${RATE_B}`);
  if (!near(all, sum, TOLERANCE)) failures.push(`merged trigger next to netns triggers: rps ${round(all)} not within ${TOLERANCE * 100}% of ${sum}`);
  assert.deepEqual(failures, []);
});
