import net from 'node:net';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { freePort, spawnCli } from '../lib/procs.js';
import { quantile, round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';

/**
 * Case 4: scale-from-zero wake-up. A `standalone` process (scaler + collector, 1 s tick);
 * per trial a fresh target whose only selector is a demand address nobody listens on, a
 * StreamIsActive stream open on it (as KEDA keeps one), then ONE refused connection attempt
 * from this process; the time from connect() to the stream pushing `true`.
 */

/** Time for the new target's watch set to reach the kernel maps before the attempt. */
const WATCH_SETTLE_MS = 250;
const TRIAL_TIMEOUT_MS = 5000;

function refusedAttempt(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', () => resolve());
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}

export async function activation(ctx: CaseContext): Promise<{ activationMs: { p50: number; p99: number }; notes: CaseNotes }> {
  const trials = 50;
  const port = await freePort();
  const standalone = spawnCli('standalone', ['--listen', `127.0.0.1:${port}`, '--tick', '1s', '--log-level', 'info']);
  const client = new KedaClient(`127.0.0.1:${port}`);
  try {
    await standalone.waitForLog(/standalone scaler and collector running/, 30_000);
    const times: number[] = [];
    let timeouts = 0;
    // A port the kernel hands out twice would make a trial's target the same as an earlier
    // one's (the target id hashes the metadata): still active from that trial's attempt, its
    // stream opens with `true` and never changes, and the trial timed out (1 in 150 trials).
    const usedPorts = new Set<number>();
    for (let trial = 0; trial < trials; trial++) {
      let demandPort = await freePort();
      while (usedPorts.has(demandPort)) demandPort = await freePort();
      usedPorts.add(demandPort);
      const ref: KedaRef = {
        name: `wake-${trial}`,
        namespace: 'bench',
        metadata: { demandAddress: `127.0.0.1:${demandPort}`, metric: 'rps', targetValue: '1', activationWindow: '60s' },
      };
      let t0 = 0;
      let sawFirst!: () => void;
      const first = new Promise<void>((r) => (sawFirst = r));
      let activated!: (ms: number) => void;
      const active = new Promise<number>((r) => (activated = r));
      const call = client.streamIsActive(
        ref,
        (isActive) => {
          sawFirst();
          if (isActive && t0 > 0) activated(performance.now() - t0);
        },
        () => sawFirst(),
      );
      await Promise.race([first, sleep(TRIAL_TIMEOUT_MS)]);
      await sleep(WATCH_SETTLE_MS);
      t0 = performance.now();
      await refusedAttempt(demandPort);
      const ms = await Promise.race([active, sleep(TRIAL_TIMEOUT_MS).then(() => undefined)]);
      call.cancel();
      if (ms === undefined) timeouts++;
      else times.push(ms);
    }
    const result = { p50: round(quantile(times, 0.5), 2), p99: round(quantile(times, 0.99), 2) };
    ctx.log(`activation over ${times.length} trials (${timeouts} timeouts): p50 ${result.p50} ms, p99 ${result.p99} ms, max ${round(Math.max(...times), 2)} ms`);
    return {
      activationMs: result,
      notes: {
        trials,
        timeouts,
        minMs: round(Math.min(...times), 2),
        maxMs: round(Math.max(...times), 2),
        meanMs: round(times.reduce((s, v) => s + v, 0) / Math.max(1, times.length), 2),
        setup: `standalone --tick 1s; fresh demandAddress target per trial, StreamIsActive open, ${WATCH_SETTLE_MS} ms for the watch set, one refused connect()`,
      },
    };
  } finally {
    client.close();
    await standalone.stop();
  }
}
