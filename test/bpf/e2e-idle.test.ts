import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KedaRef } from '../../src/keda/client.js';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { round, sleep, useStandalone } from '../helpers/e2e-processes.js';

/**
 * Acceptance 3 (issue 4), back to idle: after the traffic stops, IsActive (and
 * StreamIsActive) turns false once activationWindow has passed with no traffic: not
 * before activationWindow - 0.5 s, and at the latest activationWindow + 1.5 s (the
 * scaler's one-second slots and the collector tick blur the edge). Three trials, each
 * stopping at a different point within the second.
 */

const ACTIVATION_WINDOW_MS = 3000;
const EARLY_SLACK_MS = 500;
const LATE_SLACK_MS = 1500;
const TRIALS = 3;
const POLL_MS = 50;

const standalone = useStandalone('250ms');

test(`IsActive turns false activationWindow (${ACTIVATION_WINDOW_MS} ms) after the traffic stops`, async () => {
  const server = await startDelayServer((c, a) => standalone.group.spawn(c, a), '127.0.0.1');
  const ref: KedaRef = {
    name: 'idle',
    namespace: 'e2e',
    metadata: { port: String(server.port), metric: 'rps', targetValue: '10', activationWindow: `${ACTIVATION_WINDOW_MS / 1000}s`, window: '5s' },
  };
  assert.equal(await standalone.client().isActive(ref), false, 'the target must start inactive');
  const streamed: { active: boolean; atMs: number }[] = [];
  const call = standalone.client().streamIsActive(ref, (active) => streamed.push({ active, atMs: Date.now() }));
  const failures: string[] = [];
  try {
    for (let trial = 0; trial < TRIALS; trial++) {
      // Aim the last response at a different point of the wall-clock second each trial
      // (about .15, .65, .85 s; around .65 the last report lands in the same second): the last response comes ~2.09 s after spawn (1.96 s + Python start).
      const aimMs = [150, 650, 850][trial % 3]!;
      const startAt = (aimMs - 2090 + 4000) % 1000;
      await sleep(1000 + ((startAt - (Date.now() % 1000) + 1000) % 1000));
      const load = startLoad((c, a) => standalone.group.spawn(c, a), '127.0.0.1', server.port, [{ rate: 20, delayMs: 5, seconds: 2 }], 4);
      const reads: { active: boolean; atMs: number }[] = [];
      const deadline = Date.now() + 2000 + ACTIVATION_WINDOW_MS + LATE_SLACK_MS + 3000;
      let summary: Awaited<typeof load.done> | undefined;
      void load.done.then((s) => (summary = s), () => undefined);
      while (Date.now() < deadline) {
        const atMs = Date.now();
        const active = await standalone.client().isActive(ref);
        reads.push({ active, atMs });
        if (summary && !active) break;
        await sleep(POLL_MS);
      }
      const { lastDoneMs } = await load.done;
      // The stream's own timer may fire a few ms after the read that saw false.
      const streamDeadline = lastDoneMs + ACTIVATION_WINDOW_MS + LATE_SLACK_MS + 500;
      while (!streamed.some((s) => !s.active && s.atMs >= lastDoneMs) && Date.now() < streamDeadline) await sleep(20);
      const afterStop = reads.filter((r) => r.atMs >= lastDoneMs);
      const firstFalse = afterStop.find((r) => !r.active);
      const lastTrueBefore = [...afterStop].reverse().find((r) => r.active && (!firstFalse || r.atMs < firstFalse.atMs));
      const falseAfter = firstFalse ? firstFalse.atMs - lastDoneMs : Infinity;
      const streamFalse = streamed.find((s) => !s.active && s.atMs >= lastDoneMs);
      const streamAfter = streamFalse ? streamFalse.atMs - lastDoneMs : Infinity;
      console.log(
        `e2e-idle: trial ${trial} (stopped at .${String(lastDoneMs % 1000).padStart(3, '0')} s): IsActive false ${falseAfter} ms after the last response ` +
          `(last true read at ${lastTrueBefore ? lastTrueBefore.atMs - lastDoneMs : 'none'} ms), StreamIsActive pushed false at ${streamAfter} ms; ` +
          `activationWindow ${ACTIVATION_WINDOW_MS} ms`,
      );
      if (!reads.some((r) => r.active && r.atMs <= lastDoneMs)) failures.push(`trial ${trial}: never active during the load`);
      const earlyFalse = afterStop.find((r) => !r.active && r.atMs - lastDoneMs < ACTIVATION_WINDOW_MS - EARLY_SLACK_MS);
      if (earlyFalse) failures.push(`trial ${trial}: IsActive false already ${earlyFalse.atMs - lastDoneMs} ms after the traffic stopped`);
      if (!(falseAfter <= ACTIVATION_WINDOW_MS + LATE_SLACK_MS)) failures.push(`trial ${trial}: IsActive still true ${round(falseAfter)} ms after the traffic stopped`);
      if (!(streamAfter <= ACTIVATION_WINDOW_MS + LATE_SLACK_MS)) failures.push(`trial ${trial}: StreamIsActive pushed false after ${streamAfter} ms`);
      if (streamAfter < ACTIVATION_WINDOW_MS - EARLY_SLACK_MS) failures.push(`trial ${trial}: StreamIsActive pushed false early, after ${streamAfter} ms`);
    }
  } finally {
    call.cancel();
  }
  assert.deepEqual(failures, []);
});
